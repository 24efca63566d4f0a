"""One error hierarchy for sentikit, and the exit code of each kind of error.

Library functions raise these; ``sentikit.cli.main`` is the only place that turns
them into a one-line message and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable process exit codes (documented in the README's "Scripting & CI")."""

    OK = 0
    CHECK_FAILED = 1  # a gate or check failed: --min-accuracy, --fail-on-alert, smoke test
    USAGE = 2  # user error: bad flag, bad file, bad name, bad data
    ENVIRONMENT = 3  # the machine lacks something: no Docker engine, no Azure credentials
    REMOTE = 4  # a remote service (registry, Azure, sentikit server) failed or refused
    INTERRUPTED = 130


class SentikitError(Exception):
    """Base class for every error sentikit reports to a user."""

    exit_code: ExitCode = ExitCode.USAGE


# --- user errors (exit 2) -------------------------------------------------
class ConfigError(SentikitError):
    """The configuration file or a setting is invalid."""


class DataError(SentikitError):
    """An input data file is missing, malformed or unusable."""


class ModelNotFoundError(SentikitError):
    """No model matches the given path, name or name:version."""


class ModelIntegrityError(SentikitError):
    """A model directory is incomplete or its checksum does not match."""


class UnsupportedPipelineError(ModelIntegrityError):
    """The pipeline has a shape or an option the scoring engine cannot reproduce exactly."""


class InvalidInputError(SentikitError):
    """A value given by the user is invalid (empty text, bad name, bad threshold)."""


class OutputError(SentikitError):
    """An output path cannot be written: a directory, a socket, no such folder, no permission, disk full."""


# --- check failures (exit 1) ----------------------------------------------
class CheckFailedError(SentikitError):
    """A quality gate or a smoke test did not pass."""

    exit_code = ExitCode.CHECK_FAILED


# --- environment errors (exit 3) --------------------------------------------
class EnvironmentNotReadyError(SentikitError):
    """Something the command needs is missing from this machine."""

    exit_code = ExitCode.ENVIRONMENT


class DockerUnavailableError(EnvironmentNotReadyError):
    """No Docker engine can be reached."""


class AzureAuthError(EnvironmentNotReadyError):
    """No usable Azure credential was found."""


class MlflowAuthError(EnvironmentNotReadyError):
    """The MLflow tracking server refused the credentials (``MLFLOW_TRACKING_*``), or none were given."""


# --- remote failures (exit 4) -----------------------------------------------
class RemoteError(SentikitError):
    """A remote service failed or refused the request."""

    exit_code = ExitCode.REMOTE


class ImageBuildError(RemoteError):
    """The Docker engine could not build the image."""


class RegistryError(RemoteError):
    """A container registry refused a login or a push."""


class RegistryAuthError(RegistryError):
    """A container registry refused the credentials."""


class AzureError(RemoteError):
    """Azure Resource Manager refused or failed an operation."""


class ArmError(AzureError):
    """Azure Resource Manager answered with an error; ``code`` is its ARM error code."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ArmNotFoundError(ArmError):
    """The resource (or its resource group) does not exist."""


class DeploymentError(RemoteError):
    """A deployment did not reach a running, healthy state."""


class MlflowError(RemoteError):
    """The MLflow tracking server could not be reached, or failed a request."""


class ServerError(RemoteError):
    """A sentikit server (``--url``) could not be reached or answered with an error."""


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for an exception that ends a command (CLI and ``python -m sentikit.server``).

    sentikit errors carry their own code; an interrupt is 130. An ``OSError`` the library did not
    translate is a file or device the command could not use (2), or a connection (4). Anything
    else is a bug (1).
    """
    if isinstance(exc, SentikitError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return int(ExitCode.INTERRUPTED)
    if isinstance(exc, ConnectionError):
        return int(ExitCode.REMOTE)
    if isinstance(exc, OSError):
        return int(ExitCode.USAGE)
    return int(ExitCode.CHECK_FAILED)


def error_message(exc: BaseException) -> str:
    """What a user reads for an error, on one line (an ``OSError`` as ``path: reason``)."""
    if isinstance(exc, OSError) and not isinstance(exc, SentikitError) and exc.strerror:
        paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
        return f"{' -> '.join(paths)}: {exc.strerror}" if paths else str(exc.strerror)
    return str(exc) or type(exc).__name__


def error_line(exc: BaseException) -> str:
    """The one line a user sees for an error: ``error: <message>`` (no traceback)."""
    return f"error: {error_message(exc)}"
