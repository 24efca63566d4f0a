"""Deploy the model's image to Azure Container Instances, and report on, read logs of, or delete it.

A deployment is one Linux container group holding one container named like the group, with a
public IP (and optional DNS label), resource requests, environment (the API key only as a secure
value), registry credentials for private images, and liveness/readiness probes on the server's
health endpoints. Re-deploying the same name updates the group in place.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from .azure_clients import ArmNotFoundError, AzureContext, container_instance_client, translate_errors
from .config import API_KEY_ENV_VAR, SERVER_HOST_ENV_VAR, SERVER_PORT_ENV_VAR
from .deployment import Deployment
from .errors import CheckFailedError, DeploymentError, InvalidInputError
from .push import RegistryLogin, admin_login, ensure_registry

if TYPE_CHECKING:
    from azure.mgmt.containerinstance.models import ContainerGroup

# ACI container group (and container) names: 1-63 lowercase letters, digits and single hyphens,
# not starting or ending with a hyphen.
GROUP_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Public IP DNS labels: 3-63 characters, lowercase letters, digits and hyphens, starting with a
# letter and ending with a letter or digit (Azure's rule for dnsNameLabel).
DNS_LABEL_RE = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
# The server in the image reads its port from the settings' environment variable.
PORT_ENV_VAR, HOST_ENV_VAR = SERVER_PORT_ENV_VAR, SERVER_HOST_ENV_VAR
# ARM's default is 30 s between polls when the service sends no Retry-After.
POLL_INTERVAL = 5
SMOKE_TEXT = "The staff were friendly and the service was excellent"

ProgressCallback = Callable[[str, Optional[float]], None]


@dataclass
class ContainerSpec:
    """Everything a container group is made of. Secrets are kept out of ``repr``."""

    name: str
    resource_group: str
    image: str
    location: str = "westeurope"
    cpu: float = 1.0
    memory_gb: float = 1.5
    port: int = 8000
    dns_label: str = ""
    env: dict[str, str] = field(default_factory=dict)
    secure_env: dict[str, str] = field(default_factory=dict, repr=False)
    api_key: str = field(default="", repr=False)
    registry_login: RegistryLogin | None = field(default=None, repr=False)
    restart_policy: str = "Always"

    def validate(self) -> "ContainerSpec":
        """Check every field locally, before any call to Azure."""
        validate_group_name(self.name)
        if not self.resource_group:
            raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidInputError(f"invalid image '{self.image}'")
        if self.dns_label:
            validate_dns_label(self.dns_label)
        if not 0.1 <= self.cpu <= 4:
            raise InvalidInputError(f"invalid --cpu {self.cpu}: ACI allows 0.1 to 4 cores per container")
        if not 0.1 <= self.memory_gb <= 16:
            raise InvalidInputError(f"invalid --memory {self.memory_gb}: ACI allows 0.1 to 16 GB per container")
        if not 1 <= self.port <= 65535:
            raise InvalidInputError(f"invalid --port {self.port}")
        if self.restart_policy not in RESTART_POLICIES:
            raise InvalidInputError(f"invalid restart policy '{self.restart_policy}': {', '.join(RESTART_POLICIES)}")
        for name in [*self.env, *self.secure_env]:
            if not ENV_NAME_RE.match(name):
                raise InvalidInputError(f"invalid environment variable name '{name}'")
        clash = set(self.env) & (set(self.secure_env) | ({API_KEY_ENV_VAR} if self.api_key else set()))
        if clash:
            raise InvalidInputError(f"{', '.join(sorted(clash))} given both as a plain and as a secure value")
        if API_KEY_ENV_VAR in self.env:
            raise InvalidInputError(f"{API_KEY_ENV_VAR} is a secret: pass it with --api-key-env or --secure-env")
        return self


def validate_group_name(name: str) -> str:
    """ACI container group names: 1-63 lowercase letters, digits and hyphens, no leading/trailing/double hyphen."""
    if not GROUP_NAME_RE.match(name or "") or "--" in name:
        raise InvalidInputError(
            f"invalid deployment name '{name}': 1-63 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def validate_dns_label(label: str) -> str:
    """DNS labels: 3-63 lowercase letters, digits and hyphens; start with a letter, end with a letter or digit."""
    if not DNS_LABEL_RE.match(label or ""):
        raise InvalidInputError(
            f"invalid DNS label '{label}': 3-63 lowercase letters, digits and hyphens, "
            "starting with a letter and ending with a letter or digit"
        )
    return label


def parse_env_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``["K=V", ...]`` → ``{"K": "V"}``; a missing ``=`` is a user error (the value is never echoed)."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"{option} expects NAME=VALUE, got '{name or pair[:1]}...'")
        result[name] = value
    return result


def build_container_group(spec: ContainerSpec) -> "ContainerGroup":
    """The ARM model of the container group described by ``spec`` (pure: no I/O)."""
    from azure.mgmt.containerinstance.models import (
        Container,
        ContainerGroup,
        ContainerHttpGet,
        ContainerPort,
        ContainerProbe,
        EnvironmentVariable,
        ImageRegistryCredential,
        IpAddress,
        Port,
        ResourceRequests,
        ResourceRequirements,
    )

    env = [EnvironmentVariable(name=PORT_ENV_VAR, value=str(spec.port)), EnvironmentVariable(name=HOST_ENV_VAR, value="0.0.0.0")]
    env += [EnvironmentVariable(name=k, value=v) for k, v in sorted(spec.env.items()) if k not in (PORT_ENV_VAR, HOST_ENV_VAR)]
    secure = dict(spec.secure_env)
    if spec.api_key:
        secure[API_KEY_ENV_VAR] = spec.api_key
    env += [EnvironmentVariable(name=k, secure_value=v) for k, v in sorted(secure.items())]

    def probe(path: str, initial_delay: int, failures: int) -> ContainerProbe:
        return ContainerProbe(
            http_get=ContainerHttpGet(path=path, port=spec.port, scheme="http"),
            initial_delay_seconds=initial_delay,
            period_seconds=10,
            failure_threshold=failures,
            timeout_seconds=5,
        )

    container = Container(
        name=spec.name,
        image=spec.image,
        resources=ResourceRequirements(requests=ResourceRequests(cpu=spec.cpu, memory_in_gb=spec.memory_gb)),
        ports=[ContainerPort(port=spec.port, protocol="TCP")],
        environment_variables=env,
        liveness_probe=probe("/healthz", 30, 3),
        readiness_probe=probe("/readyz", 5, 3),
    )
    credentials = None
    if spec.registry_login is not None:
        login = spec.registry_login
        credentials = [ImageRegistryCredential(server=login.server, username=login.username, password=login.password)]
    return ContainerGroup(
        location=spec.location,
        containers=[container],
        os_type="Linux",
        restart_policy=spec.restart_policy,
        ip_address=IpAddress(
            ports=[Port(port=spec.port, protocol="TCP")], type="Public", dns_name_label=spec.dns_label or None
        ),
        image_registry_credentials=credentials,
        tags={"managed-by": "sentikit"},
    )


def registry_login_for(ctx: AzureContext, resource_group: str, registry: str) -> RegistryLogin:
    """Admin credentials of an ACR in this subscription, for ACI to pull a private image with."""
    info = ensure_registry(ctx, resource_group=resource_group, name=registry)
    return admin_login(ctx, resource_group, info)


# --- reading a container group ----------------------------------------------------------------
def _url(group: Any, port: int | None = None) -> str | None:
    ip = getattr(group, "ip_address", None)
    if ip is None:
        return None
    host = ip.fqdn or ip.ip
    if not host:
        return None
    port = port or (ip.ports[0].port if ip.ports else 80)
    return f"http://{host}:{port}"


def _events(container: Any) -> list[dict[str, object]]:
    view = getattr(container, "instance_view", None)
    return [
        {"type": e.type, "name": e.name, "message": e.message, "count": e.count}
        for e in (getattr(view, "events", None) or [])
    ]


def _to_deployment(group: Any, *, resource_group: str) -> Deployment:
    containers = []
    for c in group.containers or []:
        view = c.instance_view
        current = getattr(view, "current_state", None)
        containers.append(
            {
                "name": c.name,
                "image": c.image,
                "state": getattr(current, "state", None),
                "detail": getattr(current, "detail_status", None),
                "restart_count": getattr(view, "restart_count", None),
                "events": _events(c),
            }
        )
    group_state = getattr(group.instance_view, "state", None) if group.instance_view else None
    provisioning = group.provisioning_state or "Unknown"
    ip = group.ip_address
    first = group.containers[0] if group.containers else None
    requests = first.resources.requests if first is not None and first.resources else None
    return Deployment(
        name=group.name,
        target="azure",
        state=group_state if provisioning == "Succeeded" and group_state else provisioning,
        url=_url(group),
        image=first.image if first is not None else None,
        detail={
            "resource_group": resource_group,
            "location": group.location,
            "provisioning_state": provisioning,
            "ip": getattr(ip, "ip", None),
            "fqdn": getattr(ip, "fqdn", None),
            "cpu": getattr(requests, "cpu", None),
            "memory_gb": getattr(requests, "memory_in_gb", None),
            "restart_policy": group.restart_policy,
            "containers": containers,
        },
    )


def _get_group(ctx: AzureContext, resource_group: str, name: str) -> Any | None:
    client = container_instance_client(ctx)
    try:
        with translate_errors(f"reading container group '{name}'"):
            return client.container_groups.get(resource_group, name)
    except ArmNotFoundError as exc:
        if exc.code == "ResourceGroupNotFound":
            raise
        return None


def deployment_status(ctx: AzureContext, *, resource_group: str, name: str) -> Deployment:
    """The container group's state, URL and per-container events; ``NotFound`` if it does not exist."""
    validate_group_name(name)
    group = _get_group(ctx, resource_group, name)
    if group is None:
        return Deployment(name=name, target="azure", state="NotFound", detail={"resource_group": resource_group})
    return _to_deployment(group, resource_group=resource_group)


def deployment_logs(ctx: AzureContext, *, resource_group: str, name: str, tail: int | None = None) -> str:
    """The logs of the group's (first) container, optionally only the last ``tail`` lines."""
    validate_group_name(name)
    if tail is not None and tail < 1:
        raise InvalidInputError("--tail must be at least 1")
    group = _get_group(ctx, resource_group, name)
    if group is None:
        raise ArmNotFoundError(f"no container group '{name}' in resource group '{resource_group}'", code="ResourceNotFound")
    container = group.containers[0].name if group.containers else name
    client = container_instance_client(ctx)
    with translate_errors(f"reading the logs of '{name}'"):
        logs = client.containers.list_logs(resource_group, name, container, tail=tail)
    return logs.content or ""


def delete_deployment(ctx: AzureContext, *, resource_group: str, name: str) -> Deployment:
    """Delete the container group and wait for it; deleting a missing group reports ``NotFound``."""
    validate_group_name(name)
    group = _get_group(ctx, resource_group, name)
    if group is None:
        return Deployment(name=name, target="azure", state="NotFound", detail={"resource_group": resource_group})
    client = container_instance_client(ctx)
    with translate_errors(f"deleting container group '{name}'"):
        client.container_groups.begin_delete(resource_group, name).result()
    return Deployment(
        name=name, target="azure", state="Deleted", image=group.containers[0].image if group.containers else None,
        detail={"resource_group": resource_group},
    )


# --- deploying -----------------------------------------------------------------------------------
def deploy(
    ctx: AzureContext,
    spec: ContainerSpec,
    *,
    wait: bool = True,
    timeout: float = 900.0,
    smoke_test: bool = True,
    smoke_timeout: float = 120.0,
    registry: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> Deployment:
    """Create or update the container group, wait for it, and smoke-test the running server.

    ``registry`` names an ACR (in ``spec.resource_group``) whose admin credentials ACI should pull
    the image with, when ``spec.registry_login`` is not given.

    Raises :class:`DeploymentError` when provisioning fails or times out (with the provisioning
    state, container events and log tail) and :class:`CheckFailedError` when the smoke test fails.
    """
    spec.validate()
    if registry and spec.registry_login is None:
        spec.registry_login = registry_login_for(ctx, spec.resource_group, registry)
    existing = _get_group(ctx, spec.resource_group, spec.name)
    action = "updating" if existing is not None else "creating"
    group_model = build_container_group(spec)
    client = container_instance_client(ctx)
    if on_progress:
        on_progress(f"{action} container group {spec.name} in {spec.resource_group}", None)
    with translate_errors(f"{action} container group '{spec.name}'"):
        if not wait:
            initial = client.container_groups.begin_create_or_update(
                spec.resource_group, spec.name, group_model, polling=False
            ).result()
            result = _to_deployment(initial, resource_group=spec.resource_group)
            result.detail["action"] = "created" if action == "creating" else "updated"
            result.detail["waited"] = False
            return result
        poller = client.container_groups.begin_create_or_update(
            spec.resource_group, spec.name, group_model, polling_interval=POLL_INTERVAL
        )
    started = time.monotonic()
    try:
        with translate_errors(f"{action} container group '{spec.name}'"):
            while not poller.done():
                elapsed = time.monotonic() - started
                if elapsed > timeout:
                    raise DeploymentError(
                        f"container group '{spec.name}' is still {poller.status()} after {int(timeout)} s; "
                        f"check it with `sentikit status --name {spec.name} --resource-group {spec.resource_group}`"
                    )
                if on_progress:
                    on_progress(f"{action} {spec.name}: {poller.status()} ({int(elapsed)} s)", None)
                poller.wait(timeout=1.0)
            group = poller.result()
    except DeploymentError:
        raise
    except Exception as exc:  # a sentikit error from translate_errors: add what the group itself says
        raise DeploymentError(_failure_report(ctx, spec, str(exc))) from None
    deployment = _to_deployment(group, resource_group=spec.resource_group)
    deployment.detail["action"] = "created" if action == "creating" else "updated"
    deployment.detail["waited"] = True
    if group.provisioning_state != "Succeeded":
        raise DeploymentError(_failure_report(ctx, spec, f"provisioning state {group.provisioning_state}"))
    if smoke_test:
        if not deployment.url:
            raise CheckFailedError(f"container group '{spec.name}' has no public address to smoke-test")
        if on_progress:
            on_progress(f"smoke-testing {deployment.url}", None)
        try:
            deployment.detail["smoke_test"] = run_smoke_test(deployment.url, api_key=spec.api_key, timeout=smoke_timeout)
        except CheckFailedError as exc:
            raise CheckFailedError(f"{exc}{_log_tail(ctx, spec)}") from None
    return deployment


def _log_tail(ctx: AzureContext, spec: ContainerSpec, lines: int = 10) -> str:
    try:
        text = deployment_logs(ctx, resource_group=spec.resource_group, name=spec.name, tail=lines)
    except Exception:  # logs are best effort in an error report
        return ""
    text = text.strip()
    if spec.api_key:
        text = text.replace(spec.api_key, "***")
    return f"\nlast log lines:\n{text}" if text else ""


def _failure_report(ctx: AzureContext, spec: ContainerSpec, reason: str) -> str:
    """Why a deployment failed: the ARM error, provisioning state, container events, log tail."""
    parts = [f"deployment of '{spec.name}' failed: {reason}"]
    try:
        group = _get_group(ctx, spec.resource_group, spec.name)
    except Exception:
        group = None
    if group is not None:
        parts.append(f"provisioning state: {group.provisioning_state}")
        for c in group.containers or []:
            for e in _events(c):
                parts.append(f"event ({c.name}): {e['type']} {e['name']}: {e['message']}")
    report = "\n".join(parts) + _log_tail(ctx, spec)
    for secret in [spec.api_key, *spec.secure_env.values(), spec.registry_login.password if spec.registry_login else ""]:
        if secret:
            report = report.replace(secret, "***")
    return report


def run_smoke_test(url: str, *, api_key: str = "", timeout: float = 120.0, interval: float = 1.0) -> dict[str, object]:
    """Wait for ``/readyz``, then score one text with ``POST /v1/score``; raise CheckFailedError if either fails."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=10.0) as http:
        while True:
            try:
                ready = http.get(f"{url}/readyz")
                if ready.status_code == 200:
                    break
                last = f"HTTP {ready.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                raise CheckFailedError(f"smoke test: {url}/readyz did not answer 200 within {int(timeout)} s ({last})")
            time.sleep(interval)
        try:
            scored = http.post(f"{url}/v1/score", json={"texts": [SMOKE_TEXT]}, headers=headers)
        except httpx.HTTPError as exc:
            raise CheckFailedError(f"smoke test: POST {url}/v1/score failed: {type(exc).__name__}") from None
        if scored.status_code != 200:
            raise CheckFailedError(f"smoke test: POST {url}/v1/score answered HTTP {scored.status_code}")
        try:
            score = float(scored.json()["scores"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            raise CheckFailedError(f"smoke test: POST {url}/v1/score returned no score") from None
    return {"ready": True, "text": SMOKE_TEXT, "score": round(score, 4)}


__all__ = [
    "ContainerSpec",
    "build_container_group",
    "delete_deployment",
    "deploy",
    "deployment_logs",
    "deployment_status",
    "parse_env_pairs",
    "registry_login_for",
    "run_smoke_test",
    "validate_dns_label",
    "validate_group_name",
]
