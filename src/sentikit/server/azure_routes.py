"""The Azure AI Language compatibility routes (Starlette): read, check, score, answer in the service's shapes.

The protocol lives in :mod:`.azure_language`; these handlers find what they need from the app in
an :class:`AzureService` on ``app.state.azure``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .azure_language import (
    TEXT_ANALYTICS_VERSIONS,
    AzureError,
    AzureLanguageOptions,
    SentimentRequest,
    body_format_error,
    invalid_request,
    parse_language_request,
    parse_text_analytics_request,
    plan,
    unauthorized,
)

# Requests to these paths get the service's error shapes, 401 included.
PATH_PREFIXES = ("/language/", "/text/analytics/")
KEY_HEADER = "Ocp-Apim-Subscription-Key"


@dataclass(frozen=True)
class AzureService:
    """What the compatibility routes need from the app that serves them."""

    options: AzureLanguageOptions
    model_version: str
    max_body_bytes: int
    score: Callable[[list[str]], Awaitable[list[float]]]
    on_error: Callable[[str], None] = lambda code: None


async def analyze_text(request: Request) -> Response:
    """``POST /language/:analyze-text?api-version=...`` (kind SentimentAnalysis)."""
    return await _answer(request, lambda body: parse_language_request(request.query_params, body))


async def text_analytics_sentiment(request: Request) -> Response:
    """``POST /text/analytics/v3.0/sentiment`` and ``.../v3.1/sentiment``."""
    version = request.url.path.split("/")[3]
    return await _answer(request, lambda body: parse_text_analytics_request(version, request.query_params, body))


ROUTES = [
    Route("/language/:analyze-text", analyze_text, methods=["POST"]),
    *(Route(f"/text/analytics/{v}/sentiment", text_analytics_sentiment, methods=["POST"]) for v in TEXT_ANALYTICS_VERSIONS),
]


async def _answer(request: Request, parse: Callable[[Any], SentimentRequest]) -> Response:
    service: AzureService = request.app.state.azure
    try:
        parsed = parse(await _read_json(request, service.max_body_bytes))
        planned = plan(parsed, service.options, service.model_version)
        scores = await service.score(planned.texts) if planned.texts else []
        return _json(planned.respond(scores), 200)
    except AzureError as error:
        service.on_error(error.inner_code or error.code)
        return error_response(error)


def error_response(error: AzureError) -> Response:
    return _json(error.body(), error.status, {"x-ms-error-code": error.inner_code or error.code, **error.headers})


def _json(payload: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    # ensure_ascii: a text may hold lone surrogates (valid JSON escapes), which UTF-8 cannot encode.
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


async def _read_json(request: Request, max_body_bytes: int) -> Any:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ("application/json", "text/json"):
        raise AzureError(
            415, "InvalidRequest", "Invalid Request.", "InvalidRequestBodyFormat",
            f"Send the body as JSON with Content-Type application/json (got '{media[:50] or 'none'}').",
        )
    too_large = invalid_request(
        "InvalidDocumentBatch", f"Request Payload sent is too large to be processed. Limit request size to: {max_body_bytes}", 413
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body_bytes:
            raise too_large
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        raise body_format_error("the body is not valid JSON") from None


def is_azure_path(path: str) -> bool:
    return path.startswith(PATH_PREFIXES)


def unauthorized_response(headers: Sequence[tuple[bytes, bytes]]) -> Response:
    """The gateway's 401 for this request: a missing key and a wrong key read differently."""
    sent = any(name in (b"ocp-apim-subscription-key", b"x-api-key", b"authorization") for name, _ in headers)
    return error_response(unauthorized(missing=not sent))
