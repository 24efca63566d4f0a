"""What a Container Apps deployment is made of, and the ``Microsoft.App`` request bodies for it (pure: no I/O).

The bodies are REST-shaped dicts as the published REST spec (Microsoft.App stable) describes them;
:mod:`.containerapps` sends them through the official SDK. Every rule the service would refuse is
checked here first, so a bad flag never costs a call.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import API_KEY_ENV_VAR, Settings
from ..errors import InvalidInputError
from ..push import RegistryLogin
from .base import ENV_NAME_RE, USER_IDENTITY_RE, server_environment
from .desk import DeskSettings

WORKLOAD_PROFILE = "Consumption"
API_KEY_SECRET = "sentikit-api-key"
REGISTRY_PASSWORD_SECRET = "registry-password"
SECURE_ENV_PREFIX = "env-"

# Container app names: 2-32 lowercase letters, digits and '-', starting with a letter, ending with
# a letter or digit, no '--' (the service's rule; '--' separates app and revision names).
APP_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# Managed environment names: the same alphabet, 2-60 characters.
ENVIRONMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,58}[a-z0-9]$")
# The CPU/memory pairs every Consumption environment accepts (the service's ContainerAppInvalidResourceTotal
# list): 0.25-2 vCPU in 0.25 steps with 2 GiB per vCPU. Workload-profile environments allow more; we keep to these.
ALLOWED_CPU = tuple(round(0.25 * step, 2) for step in range(1, 9))

ENVIRONMENT_COST = (
    "a Consumption-only Container Apps environment has no standing charge of its own: you pay for the "
    "vCPU-seconds and GiB-seconds of running replicas (a lower idle rate while they serve no requests) "
    "and for requests past the monthly free grant"
)
SCALE_TO_ZERO_COST = (
    "with --min-replicas 0 an idle app costs nothing, but the first request after it scaled to zero waits "
    "for a replica to be scheduled, pull the image if the node lacks it, and load the model (seconds, "
    "tens of seconds on a cold node)"
)


@dataclass
class ContainerAppSpec:
    """Everything a container app deployment is made of. Secrets are kept out of ``repr``."""

    name: str
    resource_group: str
    image: str
    environment: str = "sentikit-env"
    location: str = ""  # empty: the resource group's region (or the existing environment's)
    cpu: float = 0.5
    memory_gb: float | None = None  # None: 2 GiB per vCPU, the only ratio Container Apps allows
    port: int = 8000
    min_replicas: int = Settings.container_min_replicas
    max_replicas: int = Settings.container_max_replicas
    concurrency: int = Settings.container_concurrency  # measured: bench/capacity.py
    cpu_target: int | None = None  # an additional CPU scale rule (average utilisation %)
    env: dict[str, str] = field(default_factory=dict)
    secure_env: dict[str, str] = field(default_factory=dict, repr=False)
    api_key: str = field(default="", repr=False)
    registry_login: RegistryLogin | None = field(default=None, repr=False)
    registry_identity: str = ""  # resource id of a user-assigned identity with AcrPull on the registry
    registry: str = ""  # an ACR whose admin user pulls the image (looked up when deploying)
    desk: DeskSettings | None = field(default=None, repr=False)  # --monitor (its env is already in env/secure_env)

    @property
    def memory(self) -> float:
        """GiB of memory: as given, or twice the vCPUs."""
        return self.memory_gb if self.memory_gb is not None else round(self.cpu * 2, 2)

    def validate(self) -> "ContainerAppSpec":
        """Check every field locally, before any call to Azure."""
        validate_app_name(self.name)
        validate_environment_name(self.environment)
        if not self.resource_group:
            raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidInputError(f"invalid image '{self.image}'")
        resources_for(self.cpu, self.memory)
        if not 1 <= self.port <= 65535:
            raise InvalidInputError(f"invalid --port {self.port}")
        if not 0 <= self.min_replicas <= 1000:
            raise InvalidInputError(f"invalid --min-replicas {self.min_replicas}: 0 (scale to zero) to 1000")
        if not 1 <= self.max_replicas <= 1000:
            raise InvalidInputError(f"invalid --max-replicas {self.max_replicas}: 1 to 1000")
        if self.max_replicas < self.min_replicas:
            raise InvalidInputError(f"--max-replicas ({self.max_replicas}) is below --min-replicas ({self.min_replicas})")
        if self.desk is not None and not self.desk.shared and self.max_replicas > 1:
            raise InvalidInputError(
                f"--max-replicas {self.max_replicas} with --monitor needs a store the replicas share: each replica's "
                "SQLite file is its own, so they would disagree on posts and alerts; pass --store-url "
                "postgresql://... or --max-replicas 1")
        if self.concurrency < 1:
            raise InvalidInputError(f"invalid --concurrency {self.concurrency}: at least 1 request per replica")
        if self.cpu_target is not None and not 1 <= self.cpu_target <= 100:
            raise InvalidInputError(f"invalid --cpu-target {self.cpu_target}: a percentage, 1-100")
        for name in [*self.env, *self.secure_env]:
            if not ENV_NAME_RE.match(name):
                raise InvalidInputError(f"invalid environment variable name '{name}'")
        if API_KEY_ENV_VAR in self.env:
            raise InvalidInputError(f"{API_KEY_ENV_VAR} is a secret: pass it with --api-key-env")
        reserved = set(server_environment(self.port, self.cpu)) & (set(self.env) | set(self.secure_env))
        if reserved:
            raise InvalidInputError(f"{', '.join(sorted(reserved))} is set by sentikit (from --port and --cpu)")
        clash = set(self.env) & set(self.secure_env)
        if clash:
            raise InvalidInputError(f"{', '.join(sorted(clash))} given both as a plain and as a secure value")
        if self.registry_identity and not USER_IDENTITY_RE.match(self.registry_identity):
            raise InvalidInputError(
                f"invalid --registry-identity '{self.registry_identity}': the resource id of a user-assigned identity, "
                "/subscriptions/ID/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME"
            )
        if sum(map(bool, (self.registry_identity, self.registry_login, self.registry))) > 1:
            raise InvalidInputError("pull the image one way: --registry-identity, --registry or --registry-username")
        host = image_registry(self.image)
        if host.endswith(".azurecr.io") and not (self.registry_identity or self.registry_login or self.registry):
            raise InvalidInputError(
                f"{host} is private: pass --registry-identity ID (a user-assigned identity with AcrPull) "
                f"or --registry {host.split('.')[0]} (its admin user) so Container Apps can pull {self.image}"
            )
        return self


def validate_app_name(name: str) -> str:
    """Container app names: 2-32 lowercase letters, digits and single hyphens, starting with a letter."""
    if not APP_NAME_RE.match(name or "") or "--" in name:
        raise InvalidInputError(
            f"invalid deployment name '{name}': Container Apps needs 2-32 lowercase letters, digits and single "
            "hyphens, starting with a letter and ending with a letter or digit"
        )
    return name


def validate_environment_name(name: str) -> str:
    """Managed environment names: 2-60 lowercase letters, digits and single hyphens, starting with a letter."""
    if not ENVIRONMENT_NAME_RE.match(name or "") or "--" in name:
        raise InvalidInputError(
            f"invalid --environment '{name}': 2-60 lowercase letters, digits and single hyphens, "
            "starting with a letter and ending with a letter or digit"
        )
    return name


def resources_for(cpu: float, memory_gb: float) -> dict[str, Any]:
    """The ``resources`` of a container, for a CPU/memory pair Container Apps allows."""
    cpu = round(cpu, 2)
    if cpu not in ALLOWED_CPU or abs(memory_gb - cpu * 2) > 1e-9:
        pairs = ", ".join(f"{c:g}/{c * 2:g}" for c in ALLOWED_CPU)
        raise InvalidInputError(
            f"invalid --cpu {cpu:g} / --memory {memory_gb:g} for Container Apps: it allows vCPU/GiB pairs {pairs} "
            "(omit --memory to get 2 GiB per vCPU)"
        )
    return {"cpu": cpu, "memory": f"{cpu * 2:g}Gi"}


def image_registry(image: str) -> str:
    """The registry host of an image reference ("" for a Docker Hub name)."""
    first = image.split("/", 1)[0]
    return first.lower() if "/" in image and ("." in first or ":" in first or first == "localhost") else ""


# --- request bodies (pure) --------------------------------------------------------------------
def environment_body(location: str) -> dict[str, Any]:
    """A managed environment with only the Consumption workload profile (no standing charge)."""
    return {
        "location": location,
        "tags": {"managed-by": "sentikit"},
        "properties": {
            "workloadProfiles": [{"name": WORKLOAD_PROFILE, "workloadProfileType": WORKLOAD_PROFILE}],
            "zoneRedundant": False,
        },
    }


def scale_rules(spec: ContainerAppSpec) -> list[dict[str, Any]]:
    """The HTTP concurrency rule, plus the CPU rule when asked for."""
    rules: list[dict[str, Any]] = [
        {"name": "http-concurrency", "http": {"metadata": {"concurrentRequests": str(spec.concurrency)}}}
    ]
    if spec.cpu_target is not None:
        rules.append({"name": "cpu-utilization",
                      "custom": {"type": "cpu", "metadata": {"type": "Utilization", "value": str(spec.cpu_target)}}})
    return rules


def container_app_body(spec: ContainerAppSpec, *, environment_id: str, location: str,
                       revision_suffix: str) -> dict[str, Any]:
    """The ``Microsoft.App/containerApps`` PUT body for ``spec`` (pure: no I/O)."""
    secret_values: list[dict[str, str]] = []
    env: list[dict[str, str]] = [{"name": k, "value": v} for k, v in server_environment(spec.port, spec.cpu).items()]
    env += [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    if spec.api_key:
        secret_values.append({"name": API_KEY_SECRET, "value": spec.api_key})
        env.append({"name": API_KEY_ENV_VAR, "secretRef": API_KEY_SECRET})
    for name, value in sorted(spec.secure_env.items()):
        ref = SECURE_ENV_PREFIX + name.lower().replace("_", "-")
        secret_values.append({"name": ref, "value": value})
        env.append({"name": name, "secretRef": ref})

    registries: list[dict[str, str]] = []
    body: dict[str, Any] = {"location": location, "tags": {"managed-by": "sentikit"}}
    if spec.registry_identity:
        registries.append({"server": image_registry(spec.image), "identity": spec.registry_identity})
        body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {spec.registry_identity: {}}}
    elif spec.registry_login is not None:
        login = spec.registry_login
        secret_values.append({"name": REGISTRY_PASSWORD_SECRET, "value": login.password})
        registries.append({"server": login.server, "username": login.username,
                           "passwordSecretRef": REGISTRY_PASSWORD_SECRET})

    def probe(kind: str, path: str, period: int, failures: int, initial_delay: int = 1) -> dict[str, Any]:
        return {"type": kind, "httpGet": {"path": path, "port": spec.port, "scheme": "HTTP"},
                "initialDelaySeconds": initial_delay, "periodSeconds": period, "timeoutSeconds": 3,
                "failureThreshold": failures}

    body["properties"] = {
        "environmentId": environment_id,
        "workloadProfileName": WORKLOAD_PROFILE,
        "configuration": {
            "activeRevisionsMode": "Single",
            "ingress": {"external": True, "targetPort": spec.port, "transport": "auto", "allowInsecure": False,
                        "traffic": [{"latestRevision": True, "weight": 100}]},
            "secrets": secret_values,
            "registries": registries,
        },
        "template": {
            # A new suffix per deploy: every deploy is a new revision (a re-pushed tag is pulled again).
            "revisionSuffix": revision_suffix,
            "containers": [{
                "name": spec.name,
                "image": spec.image,
                "resources": resources_for(spec.cpu, spec.memory),
                "env": env,
                "probes": [
                    probe("Startup", "/healthz", 2, 10),
                    probe("Liveness", "/healthz", 10, 3),
                    probe("Readiness", "/readyz", 5, 3),
                ],
            }],
            "scale": {"minReplicas": spec.min_replicas, "maxReplicas": spec.max_replicas, "rules": scale_rules(spec)},
        },
    }
    return body


def new_revision_suffix() -> str:
    """A revision suffix: lowercase letters and digits, unique per deploy."""
    return "d" + time.strftime("%y%m%d%H%M", time.gmtime())[-8:] + secrets.token_hex(2)


__all__ = [
    "ALLOWED_CPU", "API_KEY_SECRET", "ContainerAppSpec", "ENVIRONMENT_COST", "REGISTRY_PASSWORD_SECRET",
    "SCALE_TO_ZERO_COST", "WORKLOAD_PROFILE", "container_app_body", "environment_body", "image_registry",
    "new_revision_suffix", "resources_for", "scale_rules", "validate_app_name", "validate_environment_name",
]
