"""Settings: resolved once, with precedence flag > environment > file > default.

The file is ``sentikit.toml`` in the current directory (or the one named by
``SENTIKIT_CONFIG``), or else the ``[tool.sentikit]`` table of ``pyproject.toml``.
Top-level keys map to fields as they are; a table maps ``[server] port`` to the
field ``server_port``. Every field can also be set as ``SENTIKIT_<FIELD>``
(``SENTIKIT_SERVER_PORT=9000``). This module is the only reader of both.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from ._atomic import atomic_output
from .errors import ConfigError

# Every SENTIKIT_* name is spelled here and nowhere else. Each Settings field also has one:
# env_var("server_port") == "SENTIKIT_SERVER_PORT" (and the constants below for the common ones).
ENV_PREFIX = "SENTIKIT_"
CONFIG_ENV_VAR = "SENTIKIT_CONFIG"
API_KEY_ENV_VAR = "SENTIKIT_API_KEY"
# The model the server (`python -m sentikit.serve`, the container) serves: a directory or NAME[:VERSION].
MODEL_PATH_ENV_VAR = "SENTIKIT_MODEL_PATH"
DEBUG_ENV_VAR = "SENTIKIT_DEBUG"
# Optional key for signed models: an HMAC over the model directory's digest, made and checked with it.
MODEL_KEY_ENV_VAR = "SENTIKIT_MODEL_KEY"
# Where `sentikit monitor` posts alerts when --webhook is not given.
MONITOR_WEBHOOK_ENV_VAR = "SENTIKIT_MONITOR_WEBHOOK"
THRESHOLD_ENV_VAR = "SENTIKIT_THRESHOLD"
WORKSPACE_ENV_VAR = "SENTIKIT_WORKSPACE"
SERVER_HOST_ENV_VAR = "SENTIKIT_SERVER_HOST"
SERVER_PORT_ENV_VAR = "SENTIKIT_SERVER_PORT"
CONFIG_FILE_NAME = "sentikit.toml"
# `sentikit adapt`: the user's posts together weigh this share of the corpus in training (sentikit.adapt;
# here so that the CLI's --share default does not import the adapt module). 0.05 beat 0.2 on the
# held-out domains of bench/quality.py --few-shot (0.2 let 140 posts outweigh what the corpus knows)
ADAPT_USER_SHARE = 0.05
# Azure's own conventional variable, honoured as a fallback for the subscription.
AZURE_SUBSCRIPTION_ENV_VAR = "AZURE_SUBSCRIPTION_ID"

SECTIONS = ("server", "azure", "container", "kubernetes", "monitor")
# Keys that look like secrets are refused in the file: secrets live in the environment.
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "client_secret")
# Settings that *name* where a secret lives (a Kubernetes Secret), never hold its value.
_SECRET_REFERENCES = frozenset({"kubernetes_api_key_secret"})


@dataclass(frozen=True)
class Settings:
    """Every setting sentikit reads, with its default."""

    workspace: str = "models"
    model_name: str = "sentiment"
    seed: int = 42
    threshold: float = 0.5
    image: str = "sentikit-sentiment"
    base_image: str = "python:3.11-slim"

    server_host: str = "127.0.0.1"
    server_port: int = 8000
    server_workers: int = 1
    server_max_text_chars: int = 10_000
    server_max_batch: int = 1_000
    server_max_body_bytes: int = 1_048_576
    server_cors_origins: str = ""  # comma-separated; "*" allows any origin
    server_access_log: bool = True
    server_http: str = "auto"  # HTTP parser: auto (httptools when installed, else h11), h11, httptools
    server_loop: str = "auto"  # event loop: auto (uvloop when installed, else asyncio), asyncio, uvloop
    server_reuse_port: bool = True  # workers: one SO_REUSEPORT socket each (Linux), else one shared socket
    server_header_timeout: float = 15.0  # seconds for a request line and headers to arrive (slowloris)
    server_body_timeout: float = 120.0  # seconds for a whole request body (1 MiB at 9 KB/s still passes)
    server_tls_cert: str = ""  # PEM certificate (chain) file: serve HTTPS
    server_tls_key: str = ""  # its private key (PEM), unless the certificate file holds it
    server_ui: bool = True  # the pages / (try a text) and /monitor (the desk); --no-ui turns them off
    # Azure AI Language compatibility routes (/language/:analyze-text, /text/analytics/v3.x/sentiment)
    server_azure_max_documents: int = 10  # the service's limit per request
    server_azure_max_text_elements: int = 5_120  # longest document, in text elements
    server_azure_neutral_band: float = 0.2  # scores this close to the threshold are partly neutral
    server_azure_languages: str = "en"  # comma-separated language codes the model answers for

    azure_subscription: str = ""
    azure_resource_group: str = ""
    azure_location: str = ""  # empty: the resource group's region, as `az container create` does
    azure_poll_interval: float = 5.0  # seconds between polls of a long-running operation without Retry-After
    azure_registry: str = ""
    azure_arm_endpoint: str = "https://management.azure.com"
    azure_authority: str = "login.microsoftonline.com"

    container_name: str = "sentiment"
    container_cpu: float = 1.0
    container_memory: float = 1.5
    container_port: int = 8000
    container_dns_label: str = ""
    # Scaling targets (Container Apps, Kubernetes); defaults from bench/capacity.py (README "Capacity").
    container_min_replicas: int = 1
    container_max_replicas: int = 10
    container_concurrency: int = 12  # HTTP requests in flight per replica before Container Apps adds one
    container_cpu_target: int = 60  # average CPU % of the request that makes an autoscaler add a replica
    azure_environment: str = "sentikit-env"  # Container Apps managed environment

    kubernetes_api_key_secret: str = ""  # name of an existing Secret holding the API key (key "api-key")
    kubernetes_namespace: str = ""

    # The desk (`sentikit serve --monitor`): the same rules as `sentikit monitor`, kept in a store.
    # None: not set (the rules then follow `sentikit monitor`'s, e.g. --threshold falls back to `threshold`).
    monitor_enabled: bool = False  # SENTIKIT_MONITOR; [monitor] enabled = true
    monitor_store: str = "monitor.db"  # SQLite file
    monitor_alert_below: float | None = None
    monitor_recover_above: float | None = None
    monitor_window: int | None = None
    monitor_window_seconds: float | None = None
    monitor_min_count: int | None = None
    monitor_threshold: float | None = None
    monitor_webhook: str = ""
    monitor_retention_days: float = 90.0

    source: str = ""  # where the file settings came from, for `sentikit init`/diagnostics

    @property
    def workspace_path(self) -> Path:
        return Path(self.workspace)

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.server_cors_origins.split(",") if o.strip()]


@dataclass(frozen=True)
class ServerLimits:
    """The server's input limits; anything beyond them is a 4xx JSON error."""

    max_text_chars: int = 10_000
    max_batch: int = 1_000
    max_body_bytes: int = 1_048_576
    body_timeout: float = 120.0  # seconds for a whole request body to arrive

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(
            settings.server_max_text_chars, settings.server_max_batch, settings.server_max_body_bytes,
            settings.server_body_timeout,
        )


_FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in fields(Settings)}

# Fields with a bounded range: (low, high), inclusive. Every float must also be finite.
_RANGES: dict[str, tuple[float, float]] = {
    "threshold": (0.0, 1.0),
    "server_port": (1, 65_535),
    "container_port": (1, 65_535),
    "server_workers": (1, 1_024),
    "server_max_text_chars": (1, 1 << 31),
    "server_max_batch": (1, 1 << 31),
    "server_max_body_bytes": (1, 1 << 40),
    "server_header_timeout": (0.001, 86_400.0),
    "server_body_timeout": (0.001, 86_400.0),
    "container_cpu": (0.01, 1_024.0),
    "container_memory": (0.01, 16_384.0),
    "container_min_replicas": (0, 1_000),
    "container_max_replicas": (1, 1_000),
    "container_concurrency": (1, 100_000),
    "container_cpu_target": (1, 100),
    "monitor_alert_below": (0.0, 1.0),
    "monitor_recover_above": (0.0, 1.0),
    "monitor_window": (1, 1 << 31),
    "monitor_window_seconds": (0.001, 1e10),
    "monitor_min_count": (1, 1 << 31),
    "monitor_threshold": (0.0, 1.0),
    "monitor_retention_days": (0.0001, 1e6),
}
# Fields whose variable is not simply SENTIKIT_<FIELD>.
_ENV_NAMES = {"monitor_enabled": "SENTIKIT_MONITOR"}


def env_var(name: str) -> str:
    """The environment variable of a Settings field: ``server_port`` -> ``SENTIKIT_SERVER_PORT``."""
    if name not in _FIELD_TYPES or name == "source":
        raise KeyError(name)
    return _ENV_NAMES.get(name) or ENV_PREFIX + name.upper()


def _check_range(name: str, value: Any, where: str) -> Any:
    finite = not isinstance(value, float) or math.isfinite(value)
    bounds = _RANGES.get(name)
    if bounds is not None and not (finite and bounds[0] <= value <= bounds[1]):
        raise ConfigError(f"{where} must be between {bounds[0]:g} and {bounds[1]:g}, got {value:g}")
    if not finite:
        raise ConfigError(f"{where} must be a finite number, got {value}")
    return value


def _coerce(name: str, value: Any, origin: str) -> Any:
    """``value`` as the field's type and inside its range; ``origin`` (a file, a variable or a flag) names the source."""
    where = origin if origin.startswith("-") else f"{origin}: {name}"
    return _check_range(name, _convert(name, value, where), where)


def _convert(name: str, value: Any, where: str) -> Any:
    kind = _FIELD_TYPES[name]
    if isinstance(kind, str) and kind.endswith(" | None"):  # optional: unset is None, a value has the type
        kind = kind[: -len(" | None")]
    try:
        if kind in ("bool", bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind in ("int", int):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind in ("float", float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, (str, int, float)):
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError):
        expected = {"bool": "true or false", "int": "an integer", "float": "a number"}.get(str(kind), "text")
        raise ConfigError(f"{where} must be {expected}, got {value!r}") from None


def find_config_file(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file in effect: ``$SENTIKIT_CONFIG``, ./sentikit.toml, or ./pyproject.toml."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_ENV_VAR)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV_VAR} points to {path}, which does not exist")
        return path
    cwd = cwd or Path.cwd()
    for name in (CONFIG_FILE_NAME, "pyproject.toml"):
        if (cwd / name).is_file():
            return cwd / name
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """Flatten a sentikit.toml (or pyproject's [tool.sentikit]) into field values."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    if path.name == "pyproject.toml":
        document = document.get("tool", {}).get("sentikit", {})
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key in SECTIONS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                flat[f"{key}_{sub_key}"] = sub_value
        else:
            flat[key] = value
    for key, value in flat.items():
        if key not in _SECRET_REFERENCES and any(word in key.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"{path}: '{key}' looks like a secret; secrets belong in environment variables, not in the file"
            )
        if key not in _FIELD_TYPES or key == "source":
            shown = key.replace("_", ".", 1) if key.split("_")[0] in SECTIONS else key
            raise ConfigError(f"{path}: unknown setting '{shown}'")
        flat[key] = _coerce(key, value, str(path))
    return flat


def read_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Field values from ``SENTIKIT_*`` variables (and ``AZURE_SUBSCRIPTION_ID``)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if environ.get(AZURE_SUBSCRIPTION_ENV_VAR):
        values["azure_subscription"] = environ[AZURE_SUBSCRIPTION_ENV_VAR]
    for name in _FIELD_TYPES:
        if name == "source":
            continue
        raw = environ.get(env_var(name))
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, env_var(name))
    return values


def read_api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The API key from ``SENTIKIT_API_KEY`` (secrets are never read from the file)."""
    environ = os.environ if environ is None else environ
    return environ.get(API_KEY_ENV_VAR) or None


# Settings whose command-line flag is not simply --field-name.
_FLAG_NAMES = {
    "server_host": "--host", "server_port": "--port", "server_workers": "--workers",
    "server_max_text_chars": "--max-text-chars", "server_max_batch": "--max-batch",
    "server_max_body_bytes": "--max-body-bytes", "server_cors_origins": "--cors-origins",
    "server_access_log": "--access-log", "server_ui": "--ui", "model_name": "--name",
    "monitor_enabled": "--monitor", "monitor_store": "--store", "monitor_alert_below": "--alert-below",
    "monitor_recover_above": "--recover-above", "monitor_window": "--window", "monitor_window_seconds": "--window-seconds",
    "monitor_min_count": "--min-count", "monitor_webhook": "--webhook", "monitor_retention_days": "--retention-days",
}


def read_model_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The model-signing key from ``SENTIKIT_MODEL_KEY`` (UTF-8 bytes), or ``None`` when unset."""
    environ = os.environ if environ is None else environ
    value = environ.get(MODEL_KEY_ENV_VAR)
    return value.encode("utf-8") if value else None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings: ``overrides`` (flags; ``None`` values ignored) > env > file > defaults."""
    path = find_config_file(cwd, environ)
    values: dict[str, Any] = read_config_file(path) if path else {}
    values.update(read_environment(environ))
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in _FIELD_TYPES:
            raise ConfigError(f"unknown setting '{name}'")
        values[name] = _coerce(name, value, _FLAG_NAMES.get(name, f"--{name.replace('_', '-')}"))
    values["source"] = str(path) if path else ""
    return Settings(**values)


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed (flags applied after loading), each checked."""
    checked = {k: _coerce(k, v, _FLAG_NAMES.get(k, f"--{k.replace('_', '-')}")) for k, v in changes.items() if v is not None}
    return dataclasses.replace(settings, **checked)


STARTER_CONFIG = """\
# sentikit configuration. Precedence: command-line flag > SENTIKIT_* environment > this file > default.
# Every key can also be set in the environment, e.g. SENTIKIT_SERVER_PORT=9000.
# Never put secrets here: the API key is read from SENTIKIT_API_KEY, Azure credentials from
# the usual AZURE_* variables or `az login`.

# Where trained models are registered (name/version/ directories).
workspace = "models"
# The model name used when a command is given no model.
model_name = "sentiment"
# Random seed for the validation split and the classifier: same data + seed = same model.
seed = 42
# Scores at or above this are labelled positive.
threshold = 0.5
# Docker image name used by `sentikit build`, and the base image it starts from.
image = "sentikit-sentiment"
base_image = "python:3.11-slim"

[server]
host = "127.0.0.1"
port = 8000
workers = 1
max_text_chars = 10000      # longest single text accepted
max_batch = 1000            # most texts in one POST /v1/score
max_body_bytes = 1048576    # largest request body
cors_origins = ""           # comma-separated origins, or "*"; empty = CORS off
access_log = true
http = "auto"               # HTTP parser: auto (httptools if installed), h11, httptools
loop = "auto"               # event loop: auto (uvloop if installed), asyncio, uvloop
reuse_port = true           # with workers: one SO_REUSEPORT socket each (Linux) so the kernel spreads connections
header_timeout = 15.0       # seconds for the request line and headers to arrive
body_timeout = 120.0        # seconds for a whole request body to arrive (slow mobile uploads included)
tls_cert = ""               # PEM certificate file: serve HTTPS (with tls_key, its private key)
tls_key = ""
ui = true                   # the pages / (try a text) and /monitor (the desk's dashboard)
# Azure AI Language compatibility (POST /language/:analyze-text, /text/analytics/v3.x/sentiment)
azure_max_documents = 10        # documents per request (the service's limit)
azure_max_text_elements = 5120  # longest document, in text elements
azure_neutral_band = 0.2        # scores within this of the threshold are partly neutral
azure_languages = "en"          # language codes answered; others get UnsupportedLanguageCode

[azure]
subscription = ""           # or AZURE_SUBSCRIPTION_ID
environment = "sentikit-env"  # Container Apps managed environment (deploy --target containerapps)
resource_group = ""
location = ""                # empty: the resource group's region (as `az container create` does)
registry = ""               # Azure Container Registry name (5-50 lowercase letters and digits)
arm_endpoint = "https://management.azure.com"   # other clouds use other endpoints
authority = "login.microsoftonline.com"

[container]
name = "sentiment"          # container group name
cpu = 1.0
memory = 1.5                # GiB
port = 8000
dns_label = ""              # public DNS label: <label>.<location>.azurecontainer.io
min_replicas = 1            # Container Apps allows 0 (scale to zero; the first request then waits for a start)
max_replicas = 10
concurrency = 12            # Container Apps: requests in flight per replica before it adds one
cpu_target = 60             # autoscalers add a replica above this average CPU % (Kubernetes HPA, Container Apps)

[kubernetes]
api_key_secret = ""         # name of an existing Secret with key "api-key"; the value never goes in a file
namespace = ""

[monitor]
# The desk: `sentikit serve --monitor` (or enabled = true, SENTIKIT_MONITOR=1) stores posts sent to
# POST /v1/posts and alerts like `sentikit monitor`, with the same rules. Uncomment what you need.
enabled = false
store = "monitor.db"        # SQLite file (/data/monitor.db in the image)
retention_days = 90         # posts older than this are deleted
# alert_below = 0.4         # alert when the rolling mean score falls below this (required with the desk)
# window = 50               # the last N posts, or:
# window_seconds = 3600     # the last S seconds of event time
# recover_above = 0.5       # recover when the mean reaches this [default: alert_below]
# min_count = 10            # no alert with fewer posts in the window
# threshold = 0.5           # posts scored below this count as negative [default: threshold]
# webhook = "https://..."   # POST each alert and recovery as JSON (or SENTIKIT_MONITOR_WEBHOOK)
"""


def write_starter_config(path: Path, *, force: bool = False) -> Path:
    """Write the commented starter ``sentikit.toml`` (atomically); refuse to overwrite unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite)")
    with atomic_output(path) as handle:
        handle.write(STARTER_CONFIG)
    return path
