"""Running the REST API with uvicorn: one process, or several worker processes.

Settings are resolved once, by the caller (``sentikit serve``) or by :func:`main`
(``python -m sentikit.serve``, the container), into an :class:`AppSpec`. Worker
processes receive that spec as a pickled argument and build their app from it;
nothing is written into the environment.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

from starlette.applications import Starlette

from ..config import MODEL_PATH_ENV_VAR, ServerLimits, Settings, load_settings, read_api_key
from ..errors import ConfigError
from ..model import SentimentModel, load_model, resolve_model
from .app import create_app
from .azure_language import AzureLanguageOptions


@dataclass(frozen=True)
class AppSpec:
    """Everything a worker process needs to build its app (picklable)."""

    model_dir: str
    limits: ServerLimits
    threshold: float
    cors_origins: tuple[str, ...] = ()
    api_key: str | None = None
    azure: AzureLanguageOptions = AzureLanguageOptions()

    @classmethod
    def resolve(cls, model: SentimentModel, settings: Settings, api_key: str | None) -> AppSpec:
        return cls(
            model_dir=str(model.path.resolve()),
            limits=ServerLimits.from_settings(settings),
            threshold=settings.threshold,
            cors_origins=tuple(settings.cors_origins),
            api_key=api_key,
            azure=AzureLanguageOptions.from_settings(settings),
        )


def build_app(spec: AppSpec, model: SentimentModel | None = None) -> Starlette:
    """The app a spec describes (``model``: an already loaded copy of ``spec.model_dir``)."""
    return create_app(
        model or load_model(Path(spec.model_dir)),
        limits=spec.limits,
        api_key=spec.api_key,
        cors_origins=spec.cors_origins,
        threshold=spec.threshold,
        azure=spec.azure,
    )


def app_from_env(environ: Mapping[str, str] | None = None) -> Starlette:
    """ASGI factory configured by the environment: ``uvicorn --factory sentikit.serve:app_from_env``.

    Reads the model reference from ``SENTIKIT_MODEL_PATH`` (a directory, or
    NAME[:VERSION] in the workspace), settings from ``SENTIKIT_*`` (via
    :func:`sentikit.config.load_settings`) and the key from ``SENTIKIT_API_KEY``.
    """
    environ = os.environ if environ is None else environ
    settings = load_settings(environ=environ)
    model = resolve_model(environ.get(MODEL_PATH_ENV_VAR) or None, Path(settings.workspace), settings.model_name)
    return build_app(AppSpec.resolve(model, settings, read_api_key(environ)), model)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for ``settings`` (host, port, logging, limits on the request line)."""
    # A GET text may be percent-encoded at up to 9 bytes per character (4-byte UTF-8).
    line_limit = max(65_536, settings.server_max_text_chars * 9 + 8_192)
    return {
        "host": settings.server_host,
        "port": settings.server_port,
        "access_log": settings.server_access_log,
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        "h11_max_incomplete_event_size": line_limit,
        "log_level": "info",
        **tls_options(settings),
    }


def tls_options(settings: Settings) -> dict[str, str]:
    """uvicorn's HTTPS settings: none without a certificate; checked to load before serving.

    Raises:
        ConfigError: a key without a certificate, a missing file, or a certificate and key
            that do not load (bad PEM, not a pair).
    """
    import ssl

    cert, key = settings.server_tls_cert, settings.server_tls_key
    if not cert:
        if key:
            raise ConfigError("--tls-key needs --tls-cert (SENTIKIT_SERVER_TLS_CERT): the certificate to serve")
        return {}
    for path in (cert, key):
        if path and not Path(path).is_file():
            raise ConfigError(f"TLS file {path} does not exist")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key or None)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(f"cannot serve HTTPS with certificate {cert} and key {key or cert}: {reason}") from None
    return {"ssl_certfile": cert, **({"ssl_keyfile": key} if key else {})}


def server_url(settings: Settings) -> str:
    """Where the server answers: ``https://`` when it has a certificate (checked, see :func:`tls_options`)."""
    scheme = "https" if tls_options(settings) else "http"
    return f"{scheme}://{settings.server_host}:{settings.server_port}"


def run_server(model: SentimentModel, settings: Settings, *, api_key: str | None = None) -> None:
    """Serve ``model`` with uvicorn until SIGINT/SIGTERM (graceful: in-flight requests finish).

    Host, port, workers, limits, CORS, threshold and access log come from ``settings``.
    """
    import uvicorn

    spec = AppSpec.resolve(model, settings, api_key)
    options = uvicorn_options(settings)
    if settings.server_workers > 1:
        _run_workers(spec, options, settings.server_workers)
        return
    uvicorn.run(build_app(spec, model), **options)


def _run_workers(spec: AppSpec, options: dict[str, Any], workers: int) -> None:
    """uvicorn's multi-process mode, with Nagle's algorithm off on the shared socket.

    uvicorn binds that socket itself with protocol 0, so asyncio skips TCP_NODELAY on the
    connections it accepts, and every response then waits ~40 ms for a delayed ACK
    (measured: 360 req/s with 2 workers against 4,700 with 1). Linux copies TCP_NODELAY
    from a listening socket to the sockets it accepts.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # The spawned workers unpickle the factory and its spec: settings travel as arguments.
    config = uvicorn.Config(partial(build_app, spec), factory=True, workers=workers, **options)
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


def main() -> int:
    """``python -m sentikit.serve``: serve the model named by the environment (the container)."""
    from ..errors import SentikitError

    try:
        settings = load_settings()
        model = resolve_model(os.environ.get(MODEL_PATH_ENV_VAR) or None, Path(settings.workspace), settings.model_name)
        url = server_url(settings)
    except SentikitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"sentikit: serving {model.reference} on {url}", file=sys.stderr)
    run_server(model, settings, api_key=read_api_key())
    return 0
