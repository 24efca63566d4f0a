"""The MLflow client for one tracking server, and MLflow's exceptions as sentikit errors."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from ..errors import EnvironmentNotReadyError, ModelNotFoundError, MlflowAuthError, MlflowError

# MLflow retries a refused connection 7 times with exponential backoff (minutes); a command
# should say "unreachable" in seconds. A user's own MLFLOW_HTTP_REQUEST_* values still win.
_CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}


def display_uri(uri: str) -> str:
    """``uri`` without a password or token in it (``http://user:pw@host`` -> ``http://user@host``)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def import_mlflow() -> Any:
    """The ``mlflow`` package, or an environment error naming the extra that installs it."""
    for name, value in _CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        import mlflow
    except ImportError:
        raise EnvironmentNotReadyError(
            "MLflow is not installed: pip install 'sentikit[mlflow]' (the client, mlflow-skinny)"
        ) from None
    return mlflow


def connect(uri: str) -> Any:
    """An ``MlflowClient`` for ``uri`` (nothing is contacted yet).

    ``uri`` also becomes the process's MLflow tracking and registry server: parts of MLflow that
    take no URI (resolving ``runs:/`` to a logged model, the fluent run API) would otherwise use
    a local ``./mlflow.db``, created in the user's folder.
    """
    mlflow = import_mlflow()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _first_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= 300 else line[:297] + "..."


@contextmanager
def quiet() -> Iterator[None]:
    """MLflow's notes ("View run at ...", "Created version '2'") and its advice (an input example)
    are not shown: stdout carries a command's result (``--json``), and sentikit prints its own line."""
    import io
    import logging
    import warnings
    from contextlib import redirect_stdout

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="mlflow")
            warnings.filterwarnings("ignore", message=".*input example.*")
            yield
    finally:
        logger.setLevel(level)


@contextmanager
def translated(uri: str, *, missing: str | None = None) -> Iterator[None]:
    """Turn MLflow's exceptions inside the block into sentikit errors about ``uri``.

    ``missing``: the message for RESOURCE_DOES_NOT_EXIST (an unknown model, version, alias or run);
    without it, MLflow's own.
    """
    where = display_uri(uri)
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the adapter: every MLflow failure leaves as a sentikit error
        from mlflow.exceptions import MlflowException

        if not isinstance(exc, (MlflowException, OSError)):
            raise
        code = getattr(exc, "error_code", "")
        status_of = getattr(exc, "get_http_status_code", None)
        status = int(status_of()) if callable(status_of) else 0
        full = str(getattr(exc, "message", "") or exc).replace(uri, where)
        text = _first_line(full)
        if code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or status in (401, 403) or "401 != 200" in text:
            denied = status == 403 or code == "PERMISSION_DENIED"
            raise MlflowAuthError(
                f"MLflow at {where} refused the credentials ({'HTTP 403, no permission' if denied else 'HTTP 401'}): "
                "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
            ) from None
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise ModelNotFoundError(missing or f"MLflow at {where}: {text}") from None
        network = (isinstance(exc, (ConnectionError, TimeoutError))
                   or type(exc).__module__.split(".")[0] in ("requests", "urllib3")
                   or re.search(r"Max retries exceeded|Connection(Error| refused)|NewConnectionError|timed out", full))
        if network:
            reason = "connection refused" if "refused" in full.lower() else "no answer"
            raise MlflowError(f"cannot reach MLflow at {where} ({reason}); check --mlflow / SENTIKIT_MLFLOW_URI") from None
        if isinstance(exc, OSError):  # a local file the artifacts are read from or written to
            from ..errors import error_message

            raise MlflowError(f"MLflow at {where}: the artifacts could not be stored or read: {error_message(exc)}") from None
        raise MlflowError(f"MLflow at {where}: {text}") from None
