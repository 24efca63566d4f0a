"""Reading and checking request input; every problem becomes an :class:`ApiError` (a 4xx JSON error)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response

from ..config import ServerLimits
from ..errors import InvalidInputError
from ..score import check_threshold


# Python's whitespace (str.isspace, what str.strip removes): a text made only of these is empty.
# Spelled out so the OpenAPI document can say the same in a JSON Schema pattern; tests/serve
# checks it against str.isspace.
BLANK_CHARACTERS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# JSON Schema (ECMA-262) pattern: at least one character that is not blank.
NON_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK_CHARACTERS) + "]"


# The longest text GET /analyze takes: 12 bytes a character percent-encoded at worst, and the
# request line and headers must fit in 64 KiB (server.protocols.HEAD_LIMIT). Longer texts: POST.
GET_TEXT_CHARS = 5_000


class ApiError(Exception):
    """A client error rendered as ``{"error": {"code", "message"}}`` with its HTTP status.

    An HTTP response rather than a library failure, so it lives with the server and not in
    :mod:`sentikit.errors` (nothing outside the server raises or catches it).
    """

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, dict(headers or {})


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    # ensure_ascii (the default): texts may hold lone surrogates, which UTF-8 cannot encode.
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(code: str, message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def json_type(value: Any) -> str:
    """How a JSON value's type reads in an error message ("an array", "null", ...)."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def check_text(text: Any, limits: ServerLimits, where: str = "text") -> str:
    """A text to score: a non-blank string within the size limit."""
    if not isinstance(text, str):
        raise ApiError(422, "invalid_type", f"{where} must be a string, got {json_type(text)}")
    if not text.strip():
        raise ApiError(400, "empty_text", f"{where} is empty")
    if len(text) > limits.max_text_chars:
        raise ApiError(
            413, "text_too_long", f"{where} has {len(text):,} characters; the limit is {limits.max_text_chars:,}"
        )
    return text


def check_query_text(text: str, limits: ServerLimits) -> str:
    """A text from ``GET /analyze?text=``: :func:`check_text`, within what fits in a URL."""
    check_text(text, limits)
    if len(text) > get_text_chars(limits):
        raise ApiError(413, "text_too_long", f"text has {len(text):,} characters; GET takes up to "
                       f"{get_text_chars(limits):,} (a URL holds no more): send longer texts with POST /v1/score")
    return text


def get_text_chars(limits: ServerLimits) -> int:
    """The longest text ``GET /analyze`` takes with these limits."""
    return min(limits.max_text_chars, GET_TEXT_CHARS)


def media_type(request: Request) -> str:
    """The request's media type, lower case, without parameters (``application/json``)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_json(request: Request, limits: ServerLimits) -> dict[str, Any]:
    """The request's JSON object, read within the byte limit as it streams in."""
    media = media_type(request)
    if media != "application/json" and not media.endswith("+json"):
        content_type = request.headers.get("content-type", "")
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as JSON with 'Content-Type: application/json' (got {content_type or 'none'!r})",
        )
    body = await read_body(request, limits)
    if not body.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ApiError(422, "invalid_type", f"the body must be a JSON object, got {json_type(document)}")
    return document


async def read_body(request: Request, limits: ServerLimits) -> bytearray:
    """The request's body, read within the byte limit as it streams in."""
    # Connection: close: the server does not read the rest, so the connection cannot carry another request.
    too_large = ApiError(413, "body_too_large", f"request body exceeds {limits.max_body_bytes:,} bytes",
                         {"Connection": "close"})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise too_large
    return body


def check_fields(document: Mapping[str, Any], allowed: Sequence[str], required: str) -> None:
    """Refuse unknown fields (with a hint for text/texts mix-ups) and a missing required one."""
    for key in document:
        if key not in allowed:
            hint = f"; did you mean '{required}'?" if key in ("text", "texts") else ""
            raise ApiError(422, "unknown_field", f"unknown field '{key[:100]}' (allowed: {', '.join(allowed)}){hint}")
    if required not in document:
        raise ApiError(400, "missing_field", f"the body needs a '{required}' field")


def request_threshold(document: Mapping[str, Any], default: float) -> float:
    """A request's ``threshold`` field (a number from 0 to 1, as the schema says: not null), or the server's."""
    if "threshold" not in document:
        return default
    try:
        return check_threshold(document["threshold"])
    except InvalidInputError as exc:
        raise ApiError(422, "invalid_threshold", str(exc)) from None


def request_top(value: Any) -> int:
    """``/v1/explain``'s ``top`` field: an integer from 1 to 1000 (``14.0`` is one, as JSON Schema counts)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ApiError(422, "invalid_top", f"top must be an integer from 1 to 1000, got {value!r}"[:200])
    return value
