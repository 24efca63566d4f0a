"""What every deployment target shares: the options, the result, the protocol, and the registry of targets.

A target (``local``, ``azure``; later ``containerapps``, ``kubernetes``) is a class constructed
with *where* to deploy (an engine, a subscription and resource group...) that implements
:class:`Target`. :class:`DeployOptions` says *what* to run; every target takes the same object
and returns the same :class:`Deployment`. New targets register a factory with
:func:`register_target` in their own module, listed in :data:`TARGET_MODULES`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from ..config import API_KEY_ENV_VAR, SERVER_HOST_ENV_VAR, SERVER_PORT_ENV_VAR, env_var
from ..errors import InvalidInputError
from .desk import MONITOR_ENV, DeskSettings

ProgressCallback = Callable[[str, Optional[float]], None]  # (message, fraction or None)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A user-assigned managed identity's ARM resource id (what ACI and Container Apps pull images with).
USER_IDENTITY_RE = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.managedidentity/userassignedidentities/[^/]+$",
    re.IGNORECASE,
)
# name -> module that registers it (imported on first use: the Azure SDK loads only for Azure).
TARGET_MODULES: dict[str, str] = {"local": "sentikit.deploy.local", "azure": "sentikit.deploy.aci",
                                  "containerapps": "sentikit.deploy.containerapps",
                                  "kubernetes": "sentikit.deploy.kubernetes"}
_FACTORIES: dict[str, Callable[..., "Target"]] = {}


@dataclass
class Deployment:
    """Where a deployed model runs and in what state."""

    name: str
    target: str  # "local" or "azure"
    state: str  # e.g. "Running", "Succeeded", "Failed", "Pending", "NotFound", "Deleted"
    url: Optional[str] = None
    image: Optional[str] = None
    detail: dict[str, object] = field(default_factory=dict)  # target-specific, never secrets


@dataclass
class DeployOptions:
    """What to run, the same for every target. Secrets are kept out of ``repr``."""

    name: str
    image: str
    port: int = 8000
    cpu: float = 1.0
    memory_gb: float = 1.5
    env: dict[str, str] = field(default_factory=dict)
    secure_env: dict[str, str] = field(default_factory=dict, repr=False)
    api_key: str = field(default="", repr=False)
    wait: bool = True  # wait until the deployment is ready (False: return once it was accepted)
    timeout: float = 900.0  # seconds to wait for it
    smoke_test: bool = True  # /readyz, then score one text (and /v1/monitor/state with the desk)
    smoke_timeout: float = 120.0
    desk: Optional[DeskSettings] = None  # --monitor: the communications desk runs in the server

    def environment(self) -> dict[str, str]:
        """The plain environment, the desk's settings included, as the container sees it."""
        return {**self.env, **(self.desk.env() if self.desk else {})}

    def secure_environment(self) -> dict[str, str]:
        """The secure environment without the API key (the desk's store URL and webhook included)."""
        return {**self.secure_env, **(self.desk.secrets() if self.desk else {})}

    def secrets(self) -> dict[str, str]:
        """The secure environment including the API key, as the container sees it."""
        return {**self.secure_environment(), **({API_KEY_ENV_VAR: self.api_key} if self.api_key else {})}

    def validate(self) -> "DeployOptions":
        """The checks every target shares; targets add their own naming and sizing rules."""
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidInputError(f"invalid image '{self.image}'")
        if not 1 <= self.port <= 65535:
            raise InvalidInputError(f"invalid --port {self.port}")
        for name in [*self.env, *self.secure_env]:
            if not ENV_NAME_RE.match(name):
                raise InvalidInputError(f"invalid environment variable name '{name}'")
        clash = set(self.env) & set(self.secrets())
        if clash:
            raise InvalidInputError(f"{', '.join(sorted(clash))} given both as a plain and as a secure value")
        if API_KEY_ENV_VAR in self.env:
            raise InvalidInputError(f"{API_KEY_ENV_VAR} is a secret: pass it with --api-key-env or --secure-env")
        if self.desk is not None:
            self.desk.validate()
            given = sorted(n for n in [*self.env, *self.secure_env] if n == MONITOR_ENV or n.startswith(MONITOR_ENV + "_"))
            if given:
                raise InvalidInputError(f"{', '.join(given)}: with --monitor the desk is set by --monitor's own options "
                                        "(--alert-below, --store-url, ...), not by --env")
        return self


class Target(Protocol):
    """A place deployments run. Every method returns plain data and raises sentikit errors."""

    name: str

    def deploy(self, options: DeployOptions, *, on_progress: ProgressCallback | None = None) -> Deployment:
        """Create or replace deployment ``options.name``; wait and smoke-test as ``options`` say."""
        ...

    def status(self, name: str) -> Deployment:
        """The deployment's state (``NotFound`` when there is none)."""
        ...

    def logs(self, name: str, tail: int | None = None) -> str:
        """The deployment's container output, optionally only the last ``tail`` lines."""
        ...

    def delete(self, name: str) -> Deployment:
        """Remove the deployment (``Deleted``, or ``NotFound`` when there was none)."""
        ...

    def describe(self) -> str:
        """Where this target deploys, for confirmations ("the local Docker engine")."""
        ...


def register_target(name: str) -> Callable[[Callable[..., Target]], Callable[..., Target]]:
    """Class decorator: make a target constructible with :func:`get_target` by ``name``."""

    def decorate(factory: Callable[..., Target]) -> Callable[..., Target]:
        _FACTORIES[name] = factory
        return factory

    return decorate


def target_names() -> tuple[str, ...]:
    """Every target name, in the order the CLI lists them."""
    return tuple(TARGET_MODULES)


def get_target(name: str, **where: Any) -> Target:
    """Construct target ``name`` with its own settings (``where``): e.g. ``get_target("local")``."""
    chosen = (name or "").lower()
    if chosen not in TARGET_MODULES:
        raise InvalidInputError(f"invalid --target '{name}': choose one of {', '.join(TARGET_MODULES)}")
    if chosen not in _FACTORIES:
        importlib.import_module(TARGET_MODULES[chosen])
    return _FACTORIES[chosen](**where)


def server_environment(port: int, cpu: float) -> dict[str, str]:
    """What the image's server needs from a scheduler: listen on every interface at ``port``, one worker
    per whole core of ``cpu`` (at least one). The scaling targets set these; users cannot override them."""
    return {SERVER_HOST_ENV_VAR: "0.0.0.0", SERVER_PORT_ENV_VAR: str(port), env_var("server_workers"): str(max(1, int(cpu)))}


def parse_env_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``["K=V", ...]`` → ``{"K": "V"}``; a missing ``=`` is a user error (the value is never echoed)."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"{option} expects NAME=VALUE, got '{name or pair[:1]}...'")
        result[name] = value
    return result
