"""Running the REST API with uvicorn: one process, or a supervisor and several worker processes.

Settings are resolved once, by the caller (``sentikit serve``) or by :func:`main`
(``python -m sentikit.serve``, the container), into an :class:`AppSpec`; the model is
loaded and warmed once, in the supervisor. Workers are forked from it, so they start
with the model in memory and the spec as a plain object: nothing is written into the
environment, nothing is loaded twice.

Load spreading: each worker listens on its own socket bound with ``SO_REUSEPORT``
(Linux), so the kernel hands every new connection to one of the workers' queues.
With one shared socket, the worker that happens to be awake accepts most keep-alive
connections and the other idles (measured in bench/serve.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Mapping

from starlette.applications import Starlette

from ..config import MODEL_PATH_ENV_VAR, ServerLimits, Settings, load_settings, read_api_key
from ..errors import ConfigError, SentikitError, error_line, exit_code_for
from ..model import SentimentModel, load_model, resolve_model
from .app import create_app, release_freed_memory
from .azure_language import AzureLanguageOptions
from .protocols import HEAD_LIMIT, protocol_class

if TYPE_CHECKING:
    import multiprocessing.process

    from ..monitor.desk import DeskOptions

logger = logging.getLogger("uvicorn.error")

HTTP_CHOICES = ("auto", "h11", "httptools")
LOOP_CHOICES = ("auto", "asyncio", "uvloop")
# A worker that dies this soon after starting is failing, not crashing once: stop restarting it.
QUICK_EXIT_SECONDS = 2.0
QUICK_EXITS_ALLOWED = 3


@dataclass(frozen=True)
class AppSpec:
    """Everything a worker process needs to build its app (picklable, for platforms without fork)."""

    model_dir: str
    limits: ServerLimits
    threshold: float
    cors_origins: tuple[str, ...] = ()
    api_key: str | None = None
    azure: AzureLanguageOptions = AzureLanguageOptions()
    metrics_dir: str | None = None
    monitor: DeskOptions | None = None  # serve --monitor
    ui: bool = True  # the pages / and /monitor

    @classmethod
    def resolve(cls, model: SentimentModel, settings: Settings, api_key: str | None) -> AppSpec:
        return cls(
            model_dir=str(model.path.resolve()),
            limits=ServerLimits.from_settings(settings),
            threshold=settings.threshold,
            cors_origins=tuple(settings.cors_origins),
            api_key=api_key,
            azure=AzureLanguageOptions.from_settings(settings),
            monitor=_desk_options(settings),
            ui=settings.server_ui,
        )


def _desk_options(settings: Settings) -> DeskOptions | None:
    if not settings.monitor_enabled:
        return None  # and sentikit.monitor is not imported: a server without the desk starts as before
    from ..monitor.desk import DeskOptions

    return DeskOptions.from_settings(settings)


def build_app(spec: AppSpec, model: SentimentModel | None = None) -> Starlette:
    """The app a spec describes (``model``: an already loaded copy of ``spec.model_dir``)."""
    return create_app(
        model or load_model(Path(spec.model_dir)),
        limits=spec.limits,
        api_key=spec.api_key,
        cors_origins=spec.cors_origins,
        threshold=spec.threshold,
        azure=spec.azure,
        monitor=spec.monitor,
        ui=spec.ui,
        metrics_dir=Path(spec.metrics_dir) if spec.metrics_dir else None,
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
    """uvicorn's settings for ``settings`` (host, port, parser with sentikit's edges, loop, logging, TLS)."""
    if settings.server_http not in HTTP_CHOICES:
        raise ConfigError(f"server_http must be one of {', '.join(HTTP_CHOICES)}, got {settings.server_http!r}")
    if settings.server_loop not in LOOP_CHOICES:
        raise ConfigError(f"server_loop must be one of {', '.join(LOOP_CHOICES)}, got {settings.server_loop!r}")
    http = protocol_class(settings.server_http, header_timeout=settings.server_header_timeout)
    return {
        "host": settings.server_host,
        "port": settings.server_port,
        "http": http,
        "loop": settings.server_loop,
        "access_log": settings.server_access_log,
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        # The protocols' own head limit answers first, with a JSON error, for both parsers.
        "h11_max_incomplete_event_size": HEAD_LIMIT + 1,
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


def checked_spec(model: SentimentModel, settings: Settings, api_key: str | None) -> AppSpec:
    """The app spec for ``settings``, with what would stop every worker checked now (the desk's rules,
    its store, its webhook): one line before serving, rather than each worker failing at its start."""
    spec = AppSpec.resolve(model, settings, api_key)
    if spec.monitor is not None:
        spec.monitor.check()
    return spec


def run_server(model: SentimentModel, settings: Settings, *, api_key: str | None = None,
               spec: AppSpec | None = None) -> None:
    """Serve ``model`` with uvicorn until SIGINT/SIGTERM (graceful: in-flight requests finish).

    Host, port, workers, limits, CORS, threshold, parser, loop and access log come from ``settings``
    (``spec``: :func:`checked_spec` of them, when the caller has it already).
    """
    import uvicorn

    spec = spec or checked_spec(model, settings, api_key)
    options = uvicorn_options(settings)
    if settings.server_workers <= 1:
        uvicorn.run(build_app(spec, model), **options)
        return
    import multiprocessing

    if "fork" in multiprocessing.get_all_start_methods():
        Supervisor(spec, model, options, settings.server_workers, reuse_port=settings.server_reuse_port).run()
    else:  # pragma: no cover (Windows): uvicorn's spawn-based workers, each loading the model
        _run_spawned_workers(spec, options, settings.server_workers)


def listening_sockets(host: str, port: int, count: int, reuse_port: bool = True) -> list[socket.socket]:
    """``count`` sockets listening on host:port with ``SO_REUSEPORT`` where the kernel balances it (Linux),
    else one socket that every worker shares.

    Nagle's algorithm is off on each: Linux copies TCP_NODELAY to the sockets they accept, and asyncio
    does not set it on sockets it did not create (without it every response waits ~40 ms for an ACK).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    balanced = reuse_port and sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    sockets: list[socket.socket] = []
    try:
        for _ in range(count if balanced else 1):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if balanced:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(address)
            address = sock.getsockname()  # port 0: the others join the port the first one got
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


class Supervisor:
    """Forks the workers, restarts one that dies, and stops them all on SIGINT/SIGTERM."""

    def __init__(
        self, spec: AppSpec, model: SentimentModel, options: dict[str, Any], workers: int, *, reuse_port: bool = True
    ) -> None:
        self.spec, self.model, self.options, self.workers = spec, model, options, workers
        self.reuse_port = reuse_port
        self.stopping = False
        self.quick_exits = 0
        self.parent = os.getpid()

    def run(self) -> None:
        import uvicorn

        uvicorn.Config("sentikit.server.app:create_app", **self.options)  # configures uvicorn's logging
        sockets = listening_sockets(self.options["host"], self.options["port"], self.workers, self.reuse_port)
        metrics_dir = tempfile.mkdtemp(prefix="sentikit-metrics-")
        self.spec = AppSpec(**{**self.spec.__dict__, "metrics_dir": metrics_dir})
        # Load and verify the scorer once, here: every worker starts with it in memory, and
        # frozen objects (release_freed_memory) stay out of the collector's way, so the workers
        # share those pages.
        self.model.score(["warm up"])
        release_freed_memory()
        import multiprocessing

        context = multiprocessing.get_context("fork")
        logger.info("Started parent process [%d]", os.getpid())
        handlers = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        slots: list[tuple[multiprocessing.process.BaseProcess, float]] = []
        try:
            for index in range(self.workers):
                slots.append(self._start(context, sockets[index % len(sockets)]))
            while not self.stopping:
                for index, (process, started) in enumerate(slots):
                    if process.is_alive() or self.stopping:
                        continue
                    self._note_exit(process, started, metrics_dir)
                    slots[index] = self._start(context, sockets[index % len(sockets)])
                time.sleep(0.2)
        finally:
            for process, _ in slots:
                if process.is_alive():
                    process.terminate()  # SIGTERM: the worker finishes in-flight requests
            grace = float(self.options.get("timeout_graceful_shutdown") or 10) + 5
            for process, _ in slots:
                process.join(grace)
                if process.is_alive():
                    process.kill()
                    process.join()
            for sock in sockets:
                sock.close()
            shutil.rmtree(metrics_dir, ignore_errors=True)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            logger.info("Stopping parent process [%d]", os.getpid())

    def _start(
        self, context: Any, sock: socket.socket
    ) -> tuple[multiprocessing.process.BaseProcess, float]:
        process = context.Process(target=self._serve, args=(sock,), daemon=False)
        process.start()
        return process, time.monotonic()

    def _serve(self, sock: socket.socket) -> None:
        """A worker's life: its own app around the supervisor's model, on its own socket."""
        import uvicorn

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own once it runs
        _stop_with_parent(self.parent)
        app = build_app(self.spec, self.model)
        uvicorn.Server(uvicorn.Config(app, **self.options)).run(sockets=[sock])

    def _note_exit(self, process: multiprocessing.process.BaseProcess, started: float, metrics_dir: str) -> None:
        from .metrics import retire_worker

        retire_worker(Path(metrics_dir), process.pid or 0)
        if time.monotonic() - started < QUICK_EXIT_SECONDS:
            self.quick_exits += 1
            if self.quick_exits >= QUICK_EXITS_ALLOWED:
                self.stopping = True
                raise SentikitError(f"worker processes keep exiting at start (last exit code {process.exitcode})")
        logger.warning("Worker process [%d] exited with code %s; starting another", process.pid, process.exitcode)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _stop_with_parent(parent: int) -> None:
    """Ask Linux to send this worker SIGTERM when the supervisor dies, even by SIGKILL: no orphan keeps the port."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os._exit(0)


def _run_spawned_workers(spec: AppSpec, options: dict[str, Any], workers: int) -> None:  # pragma: no cover
    """Where there is no fork: uvicorn's supervisor spawns workers that unpickle the spec and load the model."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(partial(build_app, spec), factory=True, workers=workers, **options)
    Multiprocess(config, sockets=listening_sockets(config.host, config.port, 1)).run()


def main() -> int:
    """``python -m sentikit.serve``: serve the model named by the environment (the container).

    Errors become one line on stderr and the exit code :func:`sentikit.errors.exit_code_for` gives.
    """
    try:
        settings = load_settings()
        model = resolve_model(os.environ.get(MODEL_PATH_ENV_VAR) or None, Path(settings.workspace), settings.model_name)
        spec = checked_spec(model, settings, read_api_key())
        print(f"sentikit: serving {model.reference} on {server_url(settings)}"
              f"{f', monitor store {settings.monitor_store}' if spec.monitor else ''}", file=sys.stderr)
        run_server(model, settings, api_key=spec.api_key, spec=spec)
    except (SentikitError, OSError) as exc:
        print(error_line(exc), file=sys.stderr)
        return exit_code_for(exc)
    return 0
