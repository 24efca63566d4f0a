"""The pages for people: ``GET /`` (try a text) and ``GET /monitor`` (the desk's dashboard).

Both are static files from ``server/ui/`` that read the JSON API (``/v1/score``, ``/v1/explain``,
``/v1/monitor/*``) like any other client: nothing private, nothing rendered on the server. They
are reachable without the API key (they hold no data); the page asks for the key when the API
answers 401. Every asset is served by the server itself under a strict Content-Security-Policy
(scripts and styles from this origin only, no inline code, no eval), so the pages work where the
internet is not reachable and a post can never run as code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The vendored chart library (https://github.com/leeoniya/uPlot, MIT, see ui/vendor/uPlot-LICENSE).
UPLOT_VERSION = "1.6.32"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Pages are revalidated on every load (they name the assets' current versions); an asset URL
# carries its content hash (?v=...), so the browser may keep it as long as it likes.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# URL path -> file under ui/. Only these are served: there is no directory lookup to escape.
PAGES = {"/": "index.html", "/monitor": "monitor.html"}
ASSETS = {
    f"/ui/{name}": name
    for name in (
        "desk.css",
        "common.js",
        "try.js",
        "monitor.js",
        "icon.svg",
        f"vendor/uPlot-{UPLOT_VERSION}.iife.min.js",
        f"vendor/uPlot-{UPLOT_VERSION}.min.css",
    )
}
PATHS = frozenset(PAGES) | frozenset(ASSETS)


@dataclass(frozen=True)
class StaticFile:
    """One file ready to send: body, content type, and a digest of the body (its ETag and URL version)."""

    body: bytes
    media_type: str
    digest: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def _read(name: str) -> bytes:
    return resources.files("sentikit.server").joinpath("ui").joinpath(name).read_bytes()


def _static(body: bytes, name: str) -> StaticFile:
    suffix = name[name.rfind("."):]
    return StaticFile(body, _CONTENT_TYPES[suffix], hashlib.sha256(body).hexdigest()[:20])


@lru_cache(maxsize=None)
def asset(path: str) -> StaticFile:
    """The asset served at ``path`` (read once per process)."""
    name = ASSETS[path]
    return _static(_read(name), name)


@lru_cache(maxsize=None)
def page(path: str) -> StaticFile:
    """The page served at ``path``, its ``{{/ui/...}}`` references replaced by versioned URLs."""
    name = PAGES[path]
    html = _read(name).decode("utf-8")
    for asset_path in ASSETS:
        html = html.replace("{{" + asset_path + "}}", f"{asset_path}?v={asset(asset_path).digest[:12]}")
    if "{{" in html:
        raise RuntimeError(f"ui/{name}: unknown asset reference at {html[html.index('{{'):][:60]!r}")
    return _static(html.encode("utf-8"), name)


def _send(request: Request, file: StaticFile, cache: str) -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": file.etag}
    if file.etag in (tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


async def serve_page(request: Request) -> Response:
    return _send(request, page(request.url.path), PAGE_CACHE)


async def serve_asset(request: Request) -> Response:
    return _send(request, asset(request.url.path), ASSET_CACHE)


ROUTES = [
    *(Route(path, serve_page, methods=["GET", "HEAD"]) for path in PAGES),
    *(Route(path, serve_asset, methods=["GET", "HEAD"]) for path in ASSETS),
]
