"""The REST API: an ASGI app factory (Starlette) and a uvicorn runner.

Endpoints (DESIGN §5): ``GET /analyze`` and ``GET /predict`` (plain-text score,
compatible with the original tutorial's clients), ``POST /v1/score``,
``POST /v1/explain``, ``GET /healthz``, ``GET /readyz``, ``GET /v1/model``,
``GET /metrics``, ``GET /openapi.json`` and ``GET /docs``.

Entrypoints:

* ``create_app(model, limits=..., api_key=..., cors_origins=...)`` builds the app
  (tests, embedding); ``run_server(...)`` runs it (``sentikit serve``).
* ``python -m sentikit.serve`` (the container): model from ``SENTIKIT_MODEL_PATH``
  (a model directory, or NAME[:VERSION] in ``SENTIKIT_WORKSPACE``), host, port,
  workers and limits from ``SENTIKIT_SERVER_*``, threshold from ``SENTIKIT_THRESHOLD``,
  key from ``SENTIKIT_API_KEY``. The ASGI factory behind it,
  ``uvicorn --factory sentikit.serve:app_from_env``, reads the same variables.

This module needs only Starlette, uvicorn and sentikit's own light modules: no
Typer, Rich, scikit-learn, Docker or Azure packages.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Sequence, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .config import API_KEY_ENV_VAR, MODEL_PATH_ENV_VAR, Settings, load_settings, read_api_key
from .model import SentimentModel, resolve_model

# Work above this many characters is scored in a worker thread so the event loop keeps
# answering health checks; below it, inline is faster (no thread hand-off, no GIL ping-pong).
INLINE_CHARS = 200_000
# Routes reachable without the API key: probes, and the static docs a browser opens.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

@dataclass(frozen=True)
class ServerLimits:
    """Input limits; anything beyond them is a 4xx JSON error."""

    max_text_chars: int = 10_000
    max_batch: int = 1_000
    max_body_bytes: int = 1_048_576

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(settings.server_max_text_chars, settings.server_max_batch, settings.server_max_body_bytes)


class ApiError(Exception):
    """A client error rendered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, dict(headers or {})


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    # ensure_ascii: texts may hold lone surrogates, which UTF-8 cannot encode.
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


# --- metrics ---------------------------------------------------------------------------


class Metrics:
    """Prometheus counters and a latency histogram, per process, rendered by hand."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.errors: dict[str, int] = {}
        self.texts_scored = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0] * (len(LATENCY_BUCKETS) + 1)
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def render(self, model: SentimentModel) -> str:
        lines = [
            "# HELP sentikit_requests_total HTTP requests by route, method and status.",
            "# TYPE sentikit_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            lines.append(f'sentikit_requests_total{{route="{route}",method="{method}",status="{status}"}} {n}')
        lines += [
            "# HELP sentikit_request_duration_seconds Request latency by route.",
            "# TYPE sentikit_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self.latency.items()):
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, math.inf), counts):
                cumulative += n
                le = "+Inf" if bound == math.inf else repr(bound)
                lines.append(f'sentikit_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {cumulative}')
            lines.append(f'sentikit_request_duration_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}')
            lines.append(f'sentikit_request_duration_seconds_count{{route="{route}"}} {cumulative}')
        lines += [
            "# HELP sentikit_errors_total Error responses by error code.",
            "# TYPE sentikit_errors_total counter",
            *(f'sentikit_errors_total{{code="{code}"}} {n}' for code, n in sorted(self.errors.items())),
            "# HELP sentikit_texts_scored_total Texts scored.",
            "# TYPE sentikit_texts_scored_total counter",
            f"sentikit_texts_scored_total {self.texts_scored}",
            "# HELP sentikit_model_info The model being served.",
            "# TYPE sentikit_model_info gauge",
            f'sentikit_model_info{{name="{model.name}",version="{model.version}",sentikit="{__version__}"}} 1',
        ]
        return "\n".join(lines) + "\n"


class ObserveAndAuthorize:
    """Outermost ASGI middleware: records metrics for every response, checks the API key."""

    def __init__(self, app: ASGIApp, metrics: Metrics, api_key: str | None, routes: frozenset[str]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.api_key is not None and path not in PUBLIC_PATHS and scope["method"] != "OPTIONS":
                if not self._authorized(scope):
                    self.metrics.error("unauthorized")
                    response = json_response(
                        {"error": {"code": "unauthorized", "message": "missing or invalid API key: send "
                                   "'Authorization: Bearer <key>' or 'X-API-Key: <key>'"}},
                        401,
                        {"WWW-Authenticate": 'Bearer realm="sentikit"'},
                    )
                    await response(scope, receive, send_and_record)
                    return
            await self.app(scope, receive, send_and_record)
        finally:
            route = path if path in self.routes else "(unmatched)"
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)

    def _authorized(self, scope: Scope) -> bool:
        assert self.api_key is not None
        for name, value in scope["headers"]:
            candidate = None
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                candidate = value[7:].strip()
            elif name == b"x-api-key":
                candidate = value.strip()
            if candidate is not None and hmac.compare_digest(candidate, self.api_key):
                return True
        return False


# --- request parsing -------------------------------------------------------------------


def check_text(text: Any, limits: ServerLimits, where: str = "text") -> str:
    """A text to score: a non-blank string within the size limit."""
    if not isinstance(text, str):
        raise ApiError(422, "invalid_type", f"{where} must be a string, got {_json_type(text)}")
    if not text.strip():
        raise ApiError(400, "empty_text", f"{where} is empty")
    if len(text) > limits.max_text_chars:
        raise ApiError(
            413, "text_too_long", f"{where} has {len(text):,} characters; the limit is {limits.max_text_chars:,}"
        )
    return text


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


async def read_json(request: Request, limits: ServerLimits) -> dict[str, Any]:
    """The request's JSON object, read within the byte limit as it streams in."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as JSON with 'Content-Type: application/json' (got {content_type or 'none'!r})",
        )
    too_large = ApiError(413, "body_too_large", f"request body exceeds {limits.max_body_bytes:,} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise too_large
    if not body.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ApiError(422, "invalid_type", f"the body must be a JSON object, got {_json_type(document)}")
    return document


def _check_fields(document: Mapping[str, Any], allowed: Sequence[str], required: str) -> None:
    for key in document:
        if key not in allowed:
            hint = f"; did you mean '{required}'?" if key in ("text", "texts") else ""
            raise ApiError(422, "unknown_field", f"unknown field '{key[:100]}' (allowed: {', '.join(allowed)}){hint}")
    if required not in document:
        raise ApiError(400, "missing_field", f"the body needs a '{required}' field")


def _threshold(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ApiError(422, "invalid_threshold", f"threshold must be a number from 0 to 1, got {value!r}"[:200])
    return float(value)


def public_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest as clients may see it: file names instead of host paths."""

    def clean(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: clean(v, k) for k, v in value.items() if k != "path" or isinstance(v, str)}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if key == "path" and isinstance(value, str):
            return Path(value).name
        return value

    return cast(dict[str, Any], clean(dict(manifest)))


def _jsonable(value: Any) -> Any:
    if callable(getattr(value, "to_dict", None)):
        return _jsonable(value.to_dict())
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__ if not k.startswith("_")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


# --- the app ---------------------------------------------------------------------------


def create_app(
    model: SentimentModel,
    *,
    limits: ServerLimits = ServerLimits(),
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    threshold: float = 0.5,
) -> Starlette:
    """Build the ASGI app serving ``model``.

    Args:
        model: the model to serve; its scorer is loaded and warmed at startup.
        limits: input size limits.
        api_key: when set, every route except the health probes and docs needs it.
        cors_origins: allowed browser origins (``["*"]`` for any); empty turns CORS off.
        threshold: scores at or above it are labelled positive in ``/v1/score``.
    """
    from .openapi import DOCS_HTML, openapi_document

    metrics = Metrics()
    model_ref = {"name": model.name, "version": model.version}
    state = {"ready": False}

    def score(texts: list[str]) -> list[float]:
        scores = [float(s) for s in model.score(texts)]
        metrics.texts_scored += len(texts)
        return scores

    async def score_async(texts: list[str]) -> list[float]:
        if sum(map(len, texts)) <= INLINE_CHARS:
            return score(texts)
        return await run_in_threadpool(score, texts)

    async def analyze(request: Request) -> Response:
        text = request.query_params.get("text")
        if text is None:
            raise ApiError(400, "missing_text", "missing query parameter 'text', e.g. /analyze?text=I+loved+it")
        return Response(repr(score([check_text(text, limits)])[0]), media_type="text/plain")

    async def score_batch(request: Request) -> Response:
        document = await read_json(request, limits)
        _check_fields(document, ("texts", "threshold"), "texts")
        texts = document["texts"]
        if not isinstance(texts, list):
            raise ApiError(422, "invalid_type", f"'texts' must be an array of strings, got {_json_type(texts)}")
        if not texts:
            raise ApiError(400, "empty_batch", "'texts' is empty; send at least one text")
        if len(texts) > limits.max_batch:
            raise ApiError(413, "batch_too_large", f"{len(texts):,} texts in one request; the limit is {limits.max_batch:,}")
        cut = _threshold(document.get("threshold"), threshold)
        checked = [check_text(t, limits, f"texts[{i}]") for i, t in enumerate(texts)]
        scores = await score_async(checked)
        labels = ["positive" if s >= cut else "negative" for s in scores]
        return json_response({"scores": scores, "labels": labels, "threshold": cut, "model": model_ref})

    async def explain(request: Request) -> Response:
        document = await read_json(request, limits)
        _check_fields(document, ("text", "top"), "text")
        text = check_text(document["text"], limits)
        top = document.get("top", 10)
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 1000:
            raise ApiError(422, "invalid_top", f"top must be an integer from 1 to 1000, got {top!r}"[:200])
        explainer = getattr(model.scorer, "explain", None)
        if explainer is None:
            raise ApiError(501, "not_implemented", "this model's scorer cannot explain scores (no exported scorer)")
        result = await run_in_threadpool(explainer, text, top)
        metrics.texts_scored += 1
        explanation = _jsonable(result)
        if not isinstance(explanation, dict):
            explanation = {"explanation": explanation}
        return json_response({**explanation, "model": model_ref})

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not state["ready"]:
            return json_response({"status": "loading", "model": model_ref}, 503)
        return json_response({"status": "ready", "model": model_ref})

    async def model_info(request: Request) -> Response:
        return json_response(
            {
                "model": public_manifest(model.manifest),
                "reference": model.reference,
                "threshold": threshold,
                "limits": {
                    "max_text_chars": limits.max_text_chars,
                    "max_batch": limits.max_batch,
                    "max_body_bytes": limits.max_body_bytes,
                },
                "sentikit": __version__,
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(model), media_type="text/plain; version=0.0.4")

    openapi_body = json.dumps(openapi_document(limits=limits, api_key=api_key is not None), indent=2)

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    async def docs(request: Request) -> Response:
        # The CSP makes "nothing loads from the internet" enforceable, not just true.
        csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"
        return Response(DOCS_HTML, media_type="text/html", headers={"Content-Security-Policy": csp})

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        metrics.error(exc.code)
        return json_response({"error": {"code": exc.code, "message": exc.message}}, exc.status, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            code, message = "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404:
            code, message = "not_found", f"no such endpoint: {request.url.path[:200]} (see /docs)"
        else:
            code, message = "http_error", str(exc.detail)
        metrics.error(code)
        return json_response({"error": {"code": code, "message": message}}, exc.status_code, exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        metrics.error("internal")
        return json_response({"error": {"code": "internal", "message": "internal server error"}}, 500)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Load and verify the scorer before accepting traffic: a broken model fails the
        # start, and the first request does not pay for loading.
        await run_in_threadpool(model.score, ["warm up"])
        state["ready"] = True
        yield

    get, post = ["GET"], ["POST"]
    routes = [
        Route("/analyze", analyze, methods=get),
        Route("/predict", analyze, methods=get),
        Route("/v1/score", score_batch, methods=post),
        Route("/v1/explain", explain, methods=post),
        Route("/healthz", healthz, methods=get),
        Route("/readyz", readyz, methods=get),
        Route("/v1/model", model_info, methods=get),
        Route("/metrics", metrics_endpoint, methods=get),
        Route("/openapi.json", openapi, methods=get),
        Route("/docs", docs, methods=get),
    ]
    middleware = [Middleware(ObserveAndAuthorize, metrics=metrics, api_key=api_key, routes=frozenset(r.path for r in routes))]
    if cors_origins:
        # Outermost, so that preflights need no key and 401s still carry CORS headers.
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-API-Key"],
                max_age=600,
            )
        )
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: api_error,
        HTTPException: http_error,
        Exception: internal_error,
    }
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.model = model
    app.state.metrics = metrics
    return app


# --- running ---------------------------------------------------------------------------


def app_from_env(environ: Mapping[str, str] | None = None) -> Starlette:
    """ASGI factory for the container and for multi-worker serving.

    Reads the model reference from ``SENTIKIT_MODEL_PATH`` (a directory, or
    NAME[:VERSION] in the workspace), settings from ``SENTIKIT_*`` (via
    :func:`sentikit.config.load_settings`) and the key from ``SENTIKIT_API_KEY``.
    """
    environ = os.environ if environ is None else environ
    settings = load_settings(environ=environ)
    model = resolve_model(environ.get(MODEL_PATH_ENV_VAR) or None, Path(settings.workspace), settings.model_name)
    return create_app(
        model,
        limits=ServerLimits.from_settings(settings),
        api_key=read_api_key(environ),
        cors_origins=settings.cors_origins,
        threshold=settings.threshold,
    )


def run_server(
    model: SentimentModel,
    settings: Settings,
    *,
    api_key: str | None = None,
) -> None:
    """Serve ``model`` with uvicorn until SIGINT/SIGTERM (graceful: in-flight requests finish).

    Host, port, workers, limits, CORS, threshold and access log come from ``settings``.
    With several workers each process builds its app through :func:`app_from_env`,
    so the resolved values are passed to them as the same ``SENTIKIT_*`` variables.
    """
    import uvicorn

    # A GET text may be percent-encoded at up to 9 bytes per character (4-byte UTF-8).
    line_limit = max(65_536, settings.server_max_text_chars * 9 + 8_192)
    options: dict[str, Any] = {
        "host": settings.server_host,
        "port": settings.server_port,
        "access_log": settings.server_access_log,
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        "h11_max_incomplete_event_size": line_limit,
        "log_level": "info",
    }
    if settings.server_workers > 1:
        _run_workers(options, settings.server_workers, _worker_environment(model, settings, api_key))
        return
    app = create_app(
        model,
        limits=ServerLimits.from_settings(settings),
        api_key=api_key,
        cors_origins=settings.cors_origins,
        threshold=settings.threshold,
    )
    uvicorn.run(app, **options)


def _run_workers(options: dict[str, Any], workers: int, environment: dict[str, str]) -> None:
    """uvicorn's multi-process mode, with Nagle's algorithm off on the shared socket.

    uvicorn binds that socket itself with protocol 0, so asyncio skips TCP_NODELAY on the
    connections it accepts, and every response then waits ~40 ms for a delayed ACK
    (measured: 360 req/s with 2 workers against 4,700 with 1). Linux copies TCP_NODELAY
    from a listening socket to the sockets it accepts.
    """
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ.update(environment)  # the spawned workers build their apps from it
    config = uvicorn.Config(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


def _worker_environment(model: SentimentModel, settings: Settings, api_key: str | None) -> dict[str, str]:
    env = {
        MODEL_PATH_ENV_VAR: str(model.path.resolve()),
        "SENTIKIT_THRESHOLD": repr(settings.threshold),
        "SENTIKIT_SERVER_MAX_TEXT_CHARS": str(settings.server_max_text_chars),
        "SENTIKIT_SERVER_MAX_BATCH": str(settings.server_max_batch),
        "SENTIKIT_SERVER_MAX_BODY_BYTES": str(settings.server_max_body_bytes),
        "SENTIKIT_SERVER_CORS_ORIGINS": settings.server_cors_origins or "",
    }
    if api_key:
        env[API_KEY_ENV_VAR] = api_key
    return env


def main() -> int:
    """``python -m sentikit.serve``: serve the model named by the environment (the container)."""
    import sys

    from .errors import SentikitError

    try:
        settings = load_settings()
        model = resolve_model(os.environ.get(MODEL_PATH_ENV_VAR) or None, Path(settings.workspace), settings.model_name)
    except SentikitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"sentikit: serving {model.reference} on http://{settings.server_host}:{settings.server_port}", file=sys.stderr)
    run_server(model, settings, api_key=read_api_key())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
