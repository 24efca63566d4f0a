"""The REST API as an ASGI app (Starlette): a route table of module-level handlers.

Endpoints (DESIGN §5): ``GET /analyze`` and ``GET /predict`` (plain-text score,
compatible with the original tutorial's clients), ``POST /v1/score``,
``POST /v1/explain``, ``GET /healthz``, ``GET /readyz``, ``GET /v1/model``,
``GET /metrics``, ``GET /openapi.json`` and ``GET /docs``.

Handlers find what they serve in :class:`Served` on ``request.app.state.served``,
so one module-level function serves every app :func:`create_app` builds.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Mapping, Sequence, cast
from urllib.parse import unquote_plus

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..config import ServerLimits
from ..model import SentimentModel
from .._json import to_jsonable
from ..score import labels_for
from . import azure_routes, desk_routes, pages
from .azure_language import AzureLanguageOptions
from .azure_routes import AzureService
from .batching import ScoreBatcher
from .inputs import ApiError, check_fields, check_query_text, check_text, error_response, json_response, json_type, read_json
from .inputs import request_threshold, request_top
from .metrics import Metrics
from .openapi import docs_html, openapi_document

if TYPE_CHECKING:
    from ..monitor.desk import Desk, DeskOptions

# Work above this many characters is scored in a worker thread so the event loop keeps
# answering health checks; below it, inline is faster (no thread hand-off, no GIL ping-pong).
INLINE_CHARS = 200_000
# Routes reachable without the API key: probes, and the static docs a browser opens.
# The pages (/, /monitor and their assets) hold no data: they ask for the key when the API answers 401.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json"}) | pages.PATHS
# The CSP makes "nothing loads from the internet" enforceable, not just true.
DOCS_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"


@dataclass
class Served:
    """What one app serves and how: the handlers' shared state."""

    model: SentimentModel
    limits: ServerLimits
    threshold: float
    openapi_body: str
    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = False
    desk_options: DeskOptions | None = None  # serve --monitor
    desk: Desk | None = None  # opened at startup, in each worker process
    batcher: ScoreBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = ScoreBatcher(self._model_scores, max_chars=INLINE_CHARS)

    @property
    def model_ref(self) -> dict[str, Any]:
        return {"name": self.model.name, "version": self.model.version}

    def _model_scores(self, texts: list[str]) -> list[float]:
        return [float(s) for s in self.model.score(texts)]

    def score(self, texts: list[str]) -> list[float]:
        scores = self._model_scores(texts)
        self.metrics.scored(len(texts))
        return scores

    async def score_async(self, texts: list[str]) -> list[float]:
        """Small work with the other requests of this event-loop turn; large work in a thread."""
        if sum(map(len, texts)) > INLINE_CHARS:
            return await run_in_threadpool(self.score, texts)
        scores = await self.batcher.score(texts)
        self.metrics.scored(len(texts))
        return scores


def served(request: Request) -> Served:
    return cast(Served, request.app.state.served)


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


# --- handlers --------------------------------------------------------------------------


def query_text(query_string: bytes) -> str | None:
    """The ``text`` parameter of a query string, as Starlette's ``QueryParams(...).get("text")``
    reads it; the usual ``text=...`` alone is decoded directly (its parsing was ~5% of a request)."""
    if query_string.startswith(b"text=") and b"&" not in query_string:
        return unquote_plus(query_string[5:].decode("latin-1"))
    return QueryParams(query_string).get("text")


async def analyze_response(state: Served, query_string: bytes) -> Response:
    """``GET /analyze?text=`` (and ``/predict``): the score as plain text."""
    text = query_text(query_string)
    if text is None:
        raise ApiError(400, "missing_text", "missing query parameter 'text', e.g. /analyze?text=I+loved+it")
    checked = check_query_text(text, state.limits)
    return Response(repr((await state.score_async([checked]))[0]), media_type="text/plain")


async def analyze(request: Request) -> Response:
    return await analyze_response(served(request), request.scope["query_string"])


async def score_batch(request: Request) -> Response:
    state = served(request)
    limits = state.limits
    document = await read_json(request, limits)
    check_fields(document, ("texts", "threshold"), "texts")
    texts = document["texts"]
    if not isinstance(texts, list):
        raise ApiError(422, "invalid_type", f"'texts' must be an array of strings, got {json_type(texts)}")
    if not texts:
        raise ApiError(400, "empty_batch", "'texts' is empty; send at least one text")
    if len(texts) > limits.max_batch:
        raise ApiError(413, "batch_too_large", f"{len(texts):,} texts in one request; the limit is {limits.max_batch:,}")
    cut = request_threshold(document, state.threshold)
    checked = [check_text(t, limits, f"texts[{i}]") for i, t in enumerate(texts)]
    scores = await state.score_async(checked)
    labels = labels_for(scores, cut)
    return json_response({"scores": scores, "labels": labels, "threshold": cut, "model": state.model_ref})


async def explain(request: Request) -> Response:
    state = served(request)
    document = await read_json(request, state.limits)
    check_fields(document, ("text", "top"), "text")
    text = check_text(document["text"], state.limits)
    top = request_top(document.get("top", 10))
    explainer = getattr(state.model.scorer, "explain", None)
    if explainer is None:
        raise ApiError(501, "not_implemented", "this model's scorer cannot explain scores (no exported scorer)")
    result = await run_in_threadpool(explainer, text, top)
    state.metrics.scored(1)
    explanation = to_jsonable(result)
    if not isinstance(explanation, dict):
        explanation = {"explanation": explanation}
    return json_response({**explanation, "model": state.model_ref})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = served(request)
    if not state.ready:
        return json_response({"status": "loading", "model": state.model_ref}, 503)
    return json_response({"status": "ready", "model": state.model_ref})


async def model_info(request: Request) -> Response:
    state = served(request)
    limits = state.limits
    return json_response(
        {
            "model": public_manifest(state.model.manifest),
            "reference": state.model.reference,
            "threshold": state.threshold,
            "limits": {
                "max_text_chars": limits.max_text_chars,
                "max_batch": limits.max_batch,
                "max_body_bytes": limits.max_body_bytes,
            },
            "sentikit": __version__,
        }
    )


async def metrics(request: Request) -> Response:
    state = served(request)
    return Response(state.metrics.render(state.model), media_type="text/plain; version=0.0.4")


async def openapi(request: Request) -> Response:
    return Response(served(request).openapi_body, media_type="application/json")


async def docs(request: Request) -> Response:
    return Response(docs_html(), media_type="text/html", headers={"Content-Security-Policy": DOCS_CSP})


GET, POST = ["GET"], ["POST"]
# Answered by ObserveAndAuthorize directly when they succeed (see there); errors take the full stack.
SCORE_BY_GET = frozenset({"/analyze", "/predict"})
ROUTES = [
    Route("/analyze", analyze, methods=GET),
    Route("/predict", analyze, methods=GET),
    Route("/v1/score", score_batch, methods=POST),
    Route("/v1/explain", explain, methods=POST),
    Route("/healthz", healthz, methods=GET),
    Route("/readyz", readyz, methods=GET),
    Route("/v1/model", model_info, methods=GET),
    Route("/metrics", metrics, methods=GET),
    Route("/openapi.json", openapi, methods=GET),
    Route("/docs", docs, methods=GET),
    *azure_routes.ROUTES,
    *desk_routes.ROUTES,
]


# --- errors ----------------------------------------------------------------------------


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    served(request).metrics.error(exc.code)
    return error_response(exc.code, exc.message, exc.status, exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        code, message = "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
    elif exc.status_code == 404:
        code, message = "not_found", f"no such endpoint: {request.url.path[:200]} (see /docs)"
    else:
        code, message = "http_error", str(exc.detail)
    served(request).metrics.error(code)
    return error_response(code, message, exc.status_code, exc.headers)


async def client_gone(request: Request, exc: Exception) -> Response:
    # The client closed the connection before sending its whole body: nobody to answer, not a
    # server error. 499 (nginx's "client closed request") is what the metrics record.
    return Response(status_code=499)


async def internal_error(request: Request, exc: Exception) -> Response:
    served(request).metrics.error("internal")
    return error_response("internal", "internal server error", 500)


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: api_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: internal_error,
}


# --- middleware and the app ------------------------------------------------------------


class ObserveAndAuthorize:
    """Outermost ASGI middleware: records metrics for every response, checks the API key.

    A successful ``GET /analyze`` (or ``/predict``) is answered here by :func:`analyze_response`,
    the route's own function, without the router, the exception middleware and the request object
    around it: that layering was a fifth of the time a single-text request took (bench/serve.py).
    When it raises :class:`ApiError` the request goes down the full stack instead, whose route
    raises the same error and whose handler renders it, so errors and their metrics are the same.
    """

    def __init__(
        self, app: ASGIApp, served: Served, api_key: str | None, routes: frozenset[str], body_timeout: float = 120.0,
    ) -> None:
        self.app, self.served, self.routes, self.body_timeout = app, served, routes, body_timeout
        self.metrics = served.metrics
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        route = path if path in self.routes else "(unmatched)"
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()  # before the client has the answer: a scrape that follows it counts it
            await send(message)

        async def receive_in_time() -> Message:
            # The whole body within body_timeout of the request's start: a trickle (or an endless
            # chunked body) is cut off.
            try:
                return await asyncio.wait_for(receive(), self.body_timeout - (time.perf_counter() - started))
            except asyncio.TimeoutError:
                raise ApiError(408, "request_timeout", f"the request body did not arrive within {self.body_timeout:g} s",
                               {"Connection": "close"}) from None

        try:
            if self.api_key is not None and path not in PUBLIC_PATHS and scope["method"] != "OPTIONS":
                if not self._authorized(scope):
                    self.metrics.error("unauthorized")
                    if azure_routes.is_azure_path(path):  # the Azure clients parse the service's 401
                        await azure_routes.unauthorized_response(scope["headers"])(scope, receive, send_and_record)
                        return
                    response = error_response(
                        "unauthorized",
                        "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                        401,
                        {"WWW-Authenticate": 'Bearer realm="sentikit"'},
                    )
                    await response(scope, receive, send_and_record)
                    return
            if route in SCORE_BY_GET and scope["method"] == "GET":
                try:
                    answer = await analyze_response(self.served, scope["query_string"])
                except ApiError:
                    pass  # the route raises it again, and its handler answers
                else:
                    await answer(scope, receive, send_and_record)
                    return
            await self.app(scope, receive_in_time, send_and_record)
        finally:
            record()

    def _authorized(self, scope: Scope) -> bool:
        assert self.api_key is not None
        for name, value in scope["headers"]:
            candidate = None
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                candidate = value[7:].strip()
            elif name in (b"x-api-key", b"ocp-apim-subscription-key"):
                candidate = value.strip()
            if candidate is not None and hmac.compare_digest(candidate, self.api_key):
                return True
        return False


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Load and verify the scorer before accepting traffic: a broken model fails the
    # start, and the first request does not pay for loading.
    state = cast(Served, app.state.served)
    # Inline, not in a thread: uvicorn accepts connections only after startup, so there is nothing
    # to keep answering, and the first thread would import anyio's backend (~20 ms of the start).
    # Progressive: the server answers (by binary search) before the vocabulary dicts exist, and
    # builds them between requests; half of a start's time went to building them (bench/README.md).
    scorer = state.model.load_scorer(progressive=True)
    scorer.score(["warm up"])
    if state.desk_options is not None:
        from ..monitor.desk import Desk

        state.desk = Desk.open(state.desk_options, explain=getattr(scorer, "explain", None),
                               model={"reference": state.model.reference})
    state.ready = True
    finishing = asyncio.get_running_loop().create_task(finish_loading(scorer))
    try:
        yield
    finally:
        finishing.cancel()
        if state.desk is not None:
            state.desk.close()
            state.desk = None


async def finish_loading(scorer: Any) -> None:
    """Complete a progressive load a few milliseconds at a time, then release the memory it freed."""
    for _ in scorer.finish_loading():
        await asyncio.sleep(0)
    release_freed_memory()


def release_freed_memory() -> None:
    """Hand the heap that loading the model freed (its file's bytes, temporaries) back to the OS (less RSS:
    CPython's allocator keeps it otherwise; glibc returns it on ``malloc_trim``), and move what is
    left out of the garbage collector's way (``gc.freeze``)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        import ctypes  # here: this runs after the server answers, and ctypes' import is not free

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl and other libcs: nothing to trim
            pass
    # The model's objects live as long as the process: the collector need not walk them again
    # (each full collection under load would, a latency spike per request it delays).
    gc.freeze()


def create_app(
    model: SentimentModel,
    *,
    limits: ServerLimits = ServerLimits(),
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    threshold: float = 0.5,
    metrics_dir: Path | None = None,
    azure: AzureLanguageOptions | None = None,
    monitor: DeskOptions | None = None,
    ui: bool = True,
) -> Starlette:
    """Build the ASGI app serving ``model``.

    Args:
        model: the model to serve; its scorer is loaded and warmed at startup.
        limits: input size limits.
        api_key: when set, every route except the health probes and docs needs it.
        cors_origins: allowed browser origins (``["*"]`` for any); empty turns CORS off.
        threshold: scores at or above it are labelled positive in ``/v1/score``.
        metrics_dir: the directory the workers of one server share their metrics in (None: one process).
        azure: limits and three-class mapping of the Azure AI Language routes (defaults: the service's).
        monitor: the desk (``serve --monitor``): ``POST /v1/posts`` and ``/v1/monitor/*``; None: they answer 404.
        ui: serve the pages ``/`` and ``/monitor`` (:mod:`sentikit.server.pages`); off, they answer 404.
    """
    azure = azure or AzureLanguageOptions(threshold=threshold)
    openapi_body = json.dumps(openapi_document(limits=limits, api_key=api_key is not None, azure=azure), indent=2)
    state = Served(model, limits, threshold, openapi_body, Metrics(metrics_dir), desk_options=monitor)
    table = [*ROUTES, *pages.ROUTES] if ui else ROUTES
    routes = frozenset(route.path for route in table)
    middleware = [Middleware(ObserveAndAuthorize, served=state, api_key=api_key, routes=routes,
                             body_timeout=limits.body_timeout)]
    if cors_origins:
        # Outermost, so that preflights need no key and 401s still carry CORS headers.
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-API-Key", azure_routes.KEY_HEADER],
                max_age=600,
            ),
        )
    app = Starlette(routes=table, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.served = state
    app.state.azure = AzureService(azure, model.reference, limits.max_body_bytes, state.score_async, state.metrics.error)
    app.state.model = model
    app.state.metrics = state.metrics
    return app
