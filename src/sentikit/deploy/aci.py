"""``deploy --target azure``: Azure Container Instances, one Linux container group per deployment.

The group holds one container named like the group, with a public IP (and optional DNS label),
resource requests, environment (the API key only as a secure value), registry credentials for
private images, and liveness/readiness probes on the server's health endpoints.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ..azure import AzureContext, container_instance_client, translate_errors
from ..config import SERVER_HOST_ENV_VAR, SERVER_PORT_ENV_VAR
from ..errors import ArmNotFoundError, CheckFailedError, DeploymentError, InvalidInputError
from ..push import RegistryLogin, registry_login_for
from .base import Deployment, DeployOptions, ProgressCallback, register_target
from .readiness import smoke_test

if TYPE_CHECKING:
    from azure.mgmt.containerinstance.models import ContainerGroup

# ACI container group (and container) names: 1-63 lowercase letters, digits and single hyphens,
# not starting or ending with a hyphen.
GROUP_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Public IP DNS labels: 3-63 characters, lowercase letters, digits and hyphens, starting with a
# letter and ending with a letter or digit (Azure's rule for dnsNameLabel).
DNS_LABEL_RE = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
# ARM's default is 30 s between polls when the service sends no Retry-After.
POLL_INTERVAL = 5


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


def validate_resources(cpu: float, memory_gb: float) -> None:
    """ACI's per-container limits."""
    if not 0.1 <= cpu <= 4:
        raise InvalidInputError(f"invalid --cpu {cpu}: ACI allows 0.1 to 4 cores per container")
    if not 0.1 <= memory_gb <= 16:
        raise InvalidInputError(f"invalid --memory {memory_gb}: ACI allows 0.1 to 16 GB per container")


@register_target("azure")
class AciTarget:
    """A resource group of a subscription. ``registry`` names an ACR whose credentials ACI pulls with."""

    name = "azure"

    def __init__(
        self,
        ctx: AzureContext,
        *,
        resource_group: str,
        location: str = "westeurope",
        dns_label: str = "",
        restart_policy: str = "Always",
        registry: str | None = None,
        registry_login: RegistryLogin | None = None,
    ) -> None:
        if not resource_group:
            raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
        if dns_label:
            validate_dns_label(dns_label)
        if restart_policy not in RESTART_POLICIES:
            raise InvalidInputError(f"invalid restart policy '{restart_policy}': {', '.join(RESTART_POLICIES)}")
        self.ctx = ctx
        self.resource_group = resource_group
        self.location = location
        self.dns_label = dns_label
        self.restart_policy = restart_policy
        self.registry = registry
        self.registry_login = registry_login

    def describe(self) -> str:
        return f"resource group {self.resource_group}"

    # --- the container group model (pure) ---
    def container_group(self, options: DeployOptions) -> "ContainerGroup":
        """The ARM model of the container group for ``options`` (no I/O)."""
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

        reserved = (SERVER_PORT_ENV_VAR, SERVER_HOST_ENV_VAR)
        env = [EnvironmentVariable(name=SERVER_PORT_ENV_VAR, value=str(options.port)),
               EnvironmentVariable(name=SERVER_HOST_ENV_VAR, value="0.0.0.0")]
        env += [EnvironmentVariable(name=k, value=v) for k, v in sorted(options.env.items()) if k not in reserved]
        env += [EnvironmentVariable(name=k, secure_value=v) for k, v in sorted(options.secrets().items())]

        def probe(path: str, initial_delay: int, failures: int) -> ContainerProbe:
            return ContainerProbe(
                http_get=ContainerHttpGet(path=path, port=options.port, scheme="http"),
                initial_delay_seconds=initial_delay,
                period_seconds=10,
                failure_threshold=failures,
                timeout_seconds=5,
            )

        container = Container(
            name=options.name,
            image=options.image,
            resources=ResourceRequirements(requests=ResourceRequests(cpu=options.cpu, memory_in_gb=options.memory_gb)),
            ports=[ContainerPort(port=options.port, protocol="TCP")],
            environment_variables=env,
            liveness_probe=probe("/healthz", 30, 3),
            readiness_probe=probe("/readyz", 5, 3),
        )
        credentials = None
        if self.registry_login is not None:
            login = self.registry_login
            credentials = [ImageRegistryCredential(server=login.server, username=login.username, password=login.password)]
        return ContainerGroup(
            location=self.location,
            containers=[container],
            os_type="Linux",
            restart_policy=self.restart_policy,
            ip_address=IpAddress(
                ports=[Port(port=options.port, protocol="TCP")], type="Public", dns_name_label=self.dns_label or None
            ),
            image_registry_credentials=credentials,
            tags={"managed-by": "sentikit"},
        )

    # --- reading ---
    def _get_group(self, name: str) -> Any | None:
        client = container_instance_client(self.ctx)
        try:
            with translate_errors(f"reading container group '{name}'"):
                return client.container_groups.get(self.resource_group, name)
        except ArmNotFoundError as exc:
            if exc.code == "ResourceGroupNotFound":
                raise
            return None

    def status(self, name: str) -> Deployment:
        validate_group_name(name)
        group = self._get_group(name)
        if group is None:
            return Deployment(name=name, target="azure", state="NotFound", detail={"resource_group": self.resource_group})
        return _to_deployment(group, resource_group=self.resource_group)

    def logs(self, name: str, tail: int | None = None) -> str:
        validate_group_name(name)
        if tail is not None and tail < 1:
            raise InvalidInputError("--tail must be at least 1")
        group = self._get_group(name)
        if group is None:
            raise ArmNotFoundError(f"no container group '{name}' in resource group '{self.resource_group}'",
                                   code="ResourceNotFound")
        container = group.containers[0].name if group.containers else name
        client = container_instance_client(self.ctx)
        with translate_errors(f"reading the logs of '{name}'"):
            logs = client.containers.list_logs(self.resource_group, name, container, tail=tail)
        return logs.content or ""

    def delete(self, name: str) -> Deployment:
        validate_group_name(name)
        group = self._get_group(name)
        if group is None:
            return Deployment(name=name, target="azure", state="NotFound", detail={"resource_group": self.resource_group})
        client = container_instance_client(self.ctx)
        with translate_errors(f"deleting container group '{name}'"):
            client.container_groups.begin_delete(self.resource_group, name).result()
        return Deployment(name=name, target="azure", state="Deleted",
                          image=group.containers[0].image if group.containers else None,
                          detail={"resource_group": self.resource_group})

    # --- deploying ---
    def deploy(self, options: DeployOptions, *, on_progress: ProgressCallback | None = None) -> Deployment:
        """Create or update the container group, wait for it, and smoke-test the running server.

        Raises :class:`DeploymentError` when provisioning fails or times out (with the provisioning
        state, container events and log tail) and :class:`CheckFailedError` when the smoke test fails.
        """
        validate_group_name(options.name)
        options.validate()
        validate_resources(options.cpu, options.memory_gb)
        if self.registry and self.registry_login is None:
            self.registry_login = registry_login_for(self.ctx, self.resource_group, self.registry)
        existing = self._get_group(options.name)
        action = "updating" if existing is not None else "creating"
        group_model = self.container_group(options)
        client = container_instance_client(self.ctx)
        if on_progress:
            on_progress(f"{action} container group {options.name} in {self.resource_group}", None)
        with translate_errors(f"{action} container group '{options.name}'"):
            if not options.wait:
                initial = client.container_groups.begin_create_or_update(
                    self.resource_group, options.name, group_model, polling=False
                ).result()
                result = _to_deployment(initial, resource_group=self.resource_group)
                result.detail["action"] = "created" if action == "creating" else "updated"
                result.detail["waited"] = False
                return result
            poller = client.container_groups.begin_create_or_update(
                self.resource_group, options.name, group_model, polling_interval=POLL_INTERVAL
            )
        started = time.monotonic()
        try:
            with translate_errors(f"{action} container group '{options.name}'"):
                while not poller.done():
                    elapsed = time.monotonic() - started
                    if elapsed > options.timeout:
                        raise DeploymentError(
                            f"container group '{options.name}' is still {poller.status()} after {int(options.timeout)} s; "
                            f"check it with `sentikit status --name {options.name} --resource-group {self.resource_group}`"
                        )
                    if on_progress:
                        on_progress(f"{action} {options.name}: {poller.status()} ({int(elapsed)} s)", None)
                    poller.wait(timeout=1.0)
                group = poller.result()
        except DeploymentError:
            raise
        except Exception as exc:  # a sentikit error from translate_errors: add what the group itself says
            raise DeploymentError(self._failure_report(options, str(exc))) from None
        deployment = _to_deployment(group, resource_group=self.resource_group)
        deployment.detail["action"] = "created" if action == "creating" else "updated"
        deployment.detail["waited"] = True
        if group.provisioning_state != "Succeeded":
            raise DeploymentError(self._failure_report(options, f"provisioning state {group.provisioning_state}"))
        if options.smoke_test:
            if not deployment.url:
                raise CheckFailedError(f"container group '{options.name}' has no public address to smoke-test")
            if on_progress:
                on_progress(f"smoke-testing {deployment.url}", None)
            try:
                deployment.detail["smoke_test"] = smoke_test(deployment.url, api_key=options.api_key,
                                                             timeout=options.smoke_timeout)
            except CheckFailedError as exc:
                raise CheckFailedError(f"{exc}{self._log_tail(options)}") from None
        return deployment

    def _log_tail(self, options: DeployOptions, lines: int = 10) -> str:
        try:
            text = self.logs(options.name, tail=lines)
        except Exception:  # logs are best effort in an error report
            return ""
        text = self._scrub(text.strip(), options)
        return f"\nlast log lines:\n{text}" if text else ""

    def _scrub(self, text: str, options: DeployOptions) -> str:
        for secret in [*options.secrets().values(), self.registry_login.password if self.registry_login else ""]:
            if secret:
                text = text.replace(secret, "***")
        return text

    def _failure_report(self, options: DeployOptions, reason: str) -> str:
        """Why a deployment failed: the ARM error, provisioning state, container events, log tail."""
        parts = [f"deployment of '{options.name}' failed: {reason}"]
        try:
            group = self._get_group(options.name)
        except Exception:
            group = None
        if group is not None:
            parts.append(f"provisioning state: {group.provisioning_state}")
            for c in group.containers or []:
                for e in _events(c):
                    parts.append(f"event ({c.name}): {e['type']} {e['name']}: {e['message']}")
        return self._scrub("\n".join(parts) + self._log_tail(options), options)


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
