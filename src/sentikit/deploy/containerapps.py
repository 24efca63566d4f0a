"""``deploy --target containerapps``: the image on Azure Container Apps, with replicas and autoscaling.

A deployment is one container app (single revision mode) in a managed environment that is
created in the resource group's region when missing. The app has external HTTPS ingress to the
serving port, the API key as a Container Apps *secret* referenced by the container's environment,
registry credentials (a user-assigned managed identity or the ACR admin user), liveness/readiness/
startup probes on the server's health endpoints, and scale rules: min/max replicas, an HTTP
concurrency rule and optionally a CPU rule. Every deploy makes a new revision; the command waits
for it, prints the ``https://`` URL and smoke-tests it. Request bodies are REST-shaped dicts
(``Microsoft.App``, checked against the published REST spec) sent through the official SDK.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..azure import AzureContext, tls_trust, translate_errors
from ..azure.clients import resource_group_location, sdk_kwargs
from ..config import Settings
from ..errors import ArmNotFoundError, CheckFailedError, DeploymentError, InvalidInputError
from ..push import RegistryLogin
from .base import Deployment, DeployOptions, ProgressCallback, register_target
from .desk import check_image_for_store, describe_store, warn_if_ephemeral
from .containerapps_spec import (
    ALLOWED_CPU,
    ENVIRONMENT_COST,
    SCALE_TO_ZERO_COST,
    ContainerAppSpec,
    container_app_body,
    environment_body,
    new_revision_suffix,
    resources_for,
    validate_app_name,
    validate_environment_name,
)

if TYPE_CHECKING:
    from azure.mgmt.appcontainers import ContainerAppsAPIClient

TARGET = "containerapps"


def containerapps_client(ctx: AzureContext) -> "ContainerAppsAPIClient":
    """The Container Apps management client for this context."""
    from azure.mgmt.appcontainers import ContainerAppsAPIClient

    return ContainerAppsAPIClient(ctx.credential, ctx.subscription_id, **sdk_kwargs(ctx))


# --- reading -----------------------------------------------------------------------------------
def _rest(model: Any) -> dict[str, Any]:
    """The REST-shaped dict of an SDK model (camelCase keys, as the service sends them)."""
    if model is None:
        return {}
    as_dict = getattr(model, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else dict(model)


def _get_optional(getter: Callable[[], Any], action: str) -> dict[str, Any] | None:
    """``getter()`` as a REST dict, or None when the resource (not its group or subscription) is absent."""
    try:
        with translate_errors(action):
            return _rest(getter())
    except ArmNotFoundError as exc:
        if exc.code in ("ResourceNotFound", "ContainerAppNotFound", "ManagedEnvironmentNotFound"):
            return None
        raise


def _replicas(client: Any, resource_group: str, name: str, revision: str) -> list[dict[str, Any]]:
    with translate_errors(f"listing the replicas of '{revision}'"):
        collection = client.container_apps_revision_replicas.list_replicas(resource_group, name, revision)
    return [_rest(r) for r in (getattr(collection, "value", None) or [])]


def _describe(client: Any, app: dict[str, Any], *, resource_group: str) -> Deployment:
    props = app.get("properties") or {}
    configuration = props.get("configuration") or {}
    ingress = configuration.get("ingress") or {}
    template = props.get("template") or {}
    container = (template.get("containers") or [{}])[0]
    revision_name = props.get("latestRevisionName") or ""
    revision: dict[str, Any] = {}
    replicas: list[dict[str, Any]] = []
    if revision_name:
        revision = _get_optional(lambda: client.container_apps_revisions.get_revision(resource_group, app["name"], revision_name),
                                 f"reading revision '{revision_name}'") or {}
        replicas = _replicas(client, resource_group, app["name"], revision_name)
    rprops = revision.get("properties") or {}
    scale = template.get("scale") or {}
    provisioning = props.get("provisioningState") or "Unknown"
    running = props.get("runningStatus") or rprops.get("runningState")
    fqdn = ingress.get("fqdn")
    return Deployment(
        name=app["name"],
        target=TARGET,
        state=str(running if provisioning == "Succeeded" and running else provisioning),
        url=f"https://{fqdn}" if fqdn else None,
        image=container.get("image"),
        detail={
            "resource_group": resource_group,
            "location": app.get("location"),
            "environment": str(props.get("environmentId") or props.get("managedEnvironmentId") or "").rsplit("/", 1)[-1],
            "provisioning_state": provisioning,
            "fqdn": fqdn,
            "cpu": (container.get("resources") or {}).get("cpu"),
            "memory": (container.get("resources") or {}).get("memory"),
            "revision": revision_name,
            "latest_ready_revision": props.get("latestReadyRevisionName"),
            "revision_state": {"provisioning": rprops.get("provisioningState"), "running": rprops.get("runningState"),
                               "health": rprops.get("healthState"), "replicas": rprops.get("replicas"),
                               "error": rprops.get("provisioningError")},
            "scale": {"min_replicas": scale.get("minReplicas"), "max_replicas": scale.get("maxReplicas"),
                      "rules": [rule.get("name") for rule in scale.get("rules") or []]},
            "replicas": [
                {"name": r.get("name"), "state": (r.get("properties") or {}).get("runningState"),
                 "detail": (r.get("properties") or {}).get("runningStateDetails"),
                 "containers": [{"name": c.get("name"), "ready": c.get("ready"), "restart_count": c.get("restartCount"),
                                 "state": c.get("runningState")}
                                for c in (r.get("properties") or {}).get("containers") or []]}
                for r in replicas
            ],
        },
    )


def container_app_status(ctx: AzureContext, *, resource_group: str, name: str) -> Deployment:
    """The app's state, URL, latest revision and its replicas; state ``NotFound`` when absent."""
    validate_app_name(name)
    client = containerapps_client(ctx)
    app = _get_optional(lambda: client.container_apps.get(resource_group, name), f"reading container app '{name}'")
    if app is None:
        return Deployment(name=name, target=TARGET, state="NotFound", detail={"resource_group": resource_group})
    return _describe(client, app, resource_group=resource_group)


def container_app_logs(ctx: AzureContext, *, resource_group: str, name: str, tail: int | None = None) -> str:
    """Console logs of the latest revision's replicas, through the log-stream endpoint and its token."""
    import httpx

    validate_app_name(name)
    if tail is not None and not 1 <= tail <= 300:
        raise InvalidInputError("--tail must be 1-300 for Container Apps (the log stream's limit)")
    client = containerapps_client(ctx)
    app = _get_optional(lambda: client.container_apps.get(resource_group, name), f"reading container app '{name}'")
    if app is None:
        raise ArmNotFoundError(f"no container app '{name}' in resource group '{resource_group}'", code="ResourceNotFound")
    revision = (app.get("properties") or {}).get("latestRevisionName") or ""
    replicas = _replicas(client, resource_group, name, revision) if revision else []
    endpoints = [(r.get("name"), c.get("logStreamEndpoint")) for r in replicas
                 for c in (r.get("properties") or {}).get("containers") or [] if c.get("logStreamEndpoint")]
    if not endpoints:
        return ""  # scaled to zero: no replica, no logs
    with translate_errors(f"getting a log-stream token for '{name}'"):
        token = _rest(client.container_apps.get_auth_token(resource_group, name)).get("properties", {}).get("token")
    if not token:
        raise DeploymentError(f"Container Apps returned no log-stream token for '{name}'")
    chunks = []
    with httpx.Client(timeout=30.0, verify=tls_trust(ctx)) as http:  # the one trust setting of every HTTPS call
        for replica, endpoint in endpoints:
            params = {"follow": "false", "output": "text", "tailLines": str(tail or 300)}
            try:
                response = http.get(str(endpoint), params=params, headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise DeploymentError(f"the log stream of '{name}' could not be reached: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise DeploymentError(f"the log stream of '{name}' answered HTTP {response.status_code}")
            text = response.text
            chunks.append(text if len(endpoints) == 1 else "".join(f"[{replica}] {line}\n" for line in text.splitlines()))
    return "".join(chunks)


# --- deploying ---------------------------------------------------------------------------------
def ensure_environment(ctx: AzureContext, *, resource_group: str, name: str, location: str = "",
                       on_progress: ProgressCallback | None = None) -> tuple[dict[str, Any], bool]:
    """The managed environment, created (and waited for) in the resource group's region when missing."""
    validate_environment_name(name)
    client = containerapps_client(ctx)
    existing = _get_optional(lambda: client.managed_environments.get(resource_group, name),
                             f"reading managed environment '{name}'")
    if existing is not None:
        state = (existing.get("properties") or {}).get("provisioningState")
        if state == "Failed":
            raise DeploymentError(
                f"managed environment '{name}' is in state Failed: delete it (`az containerapp env delete -n {name} "
                f"-g {resource_group}`) or choose another --environment"
            )
        return existing, False
    location = location or resource_group_location(ctx, resource_group)
    if on_progress:
        on_progress(f"creating Container Apps environment {name} in {location} ({ENVIRONMENT_COST})", None)
    from azure.mgmt.appcontainers.models import ManagedEnvironment

    with translate_errors(f"creating managed environment '{name}'"):
        poller = client.managed_environments.begin_create_or_update(
            resource_group, name, ManagedEnvironment(environment_body(location)), polling_interval=ctx.poll_interval)
        created = _rest(poller.result())
    if (created.get("properties") or {}).get("provisioningState") != "Succeeded":
        raise DeploymentError(f"managed environment '{name}' ended in state "
                              f"{(created.get('properties') or {}).get('provisioningState')}")
    return created, True


def deploy_container_app(
    ctx: AzureContext,
    spec: ContainerAppSpec,
    *,
    wait: bool = True,
    timeout: float = 900.0,
    smoke_test: bool = True,
    smoke_timeout: float = 120.0,
    on_progress: ProgressCallback | None = None,
) -> Deployment:
    """Create or update the app (a new revision), wait until it is ready, and smoke-test its URL.

    Raises :class:`DeploymentError` when the revision fails or times out (with the service's
    reason, replica states and log tail) and :class:`CheckFailedError` when the smoke test fails.
    """
    from ..push import registry_login_for
    from .readiness import smoke_test as run_smoke_test

    spec.validate()
    warn_if_ephemeral(spec.desk, "replica")
    check_image_for_store(spec.desk, spec.image)
    if spec.registry and spec.registry_login is None:
        spec.registry_login = registry_login_for(ctx, spec.resource_group, spec.registry)
    environment, env_created = ensure_environment(ctx, resource_group=spec.resource_group, name=spec.environment,
                                                  location=spec.location, on_progress=on_progress)
    location = spec.location or str(environment.get("location") or "")
    client = containerapps_client(ctx)
    existing = _get_optional(lambda: client.container_apps.get(spec.resource_group, spec.name),
                             f"reading container app '{spec.name}'")
    action = "updating" if existing is not None else "creating"
    suffix = new_revision_suffix()
    from azure.mgmt.appcontainers.models import ContainerApp

    body = ContainerApp(container_app_body(spec, environment_id=str(environment["id"]), location=location,
                                           revision_suffix=suffix))
    if on_progress:
        on_progress(f"{action} container app {spec.name} (revision {spec.name}--{suffix})", None)
    started = time.monotonic()
    with translate_errors(f"{action} container app '{spec.name}'"):
        if not wait:
            initial = _rest(client.container_apps.begin_create_or_update(spec.resource_group, spec.name, body,
                                                                         polling=False).result())
            return Deployment(
                name=spec.name, target=TARGET,
                state=str((initial.get("properties") or {}).get("provisioningState") or "InProgress"), image=spec.image,
                detail={"resource_group": spec.resource_group, "action": "created" if action == "creating" else "updated",
                        "waited": False, "revision": f"{spec.name}--{suffix}", "environment_created": env_created})
        poller = client.container_apps.begin_create_or_update(spec.resource_group, spec.name, body,
                                                              polling_interval=ctx.poll_interval)
    try:
        with translate_errors(f"{action} container app '{spec.name}'"):
            while not poller.done():
                elapsed = time.monotonic() - started
                if elapsed > timeout:
                    raise DeploymentError(f"container app '{spec.name}' is still {poller.status()} after {int(timeout)} s; "
                                          f"check it with `sentikit status --target containerapps --name {spec.name} "
                                          f"-g {spec.resource_group}`")
                if on_progress:
                    on_progress(f"{action} {spec.name}: {poller.status()} ({int(elapsed)} s)", None)
                poller.wait(timeout=1.0)
            app = _rest(poller.result())
    except DeploymentError:
        raise
    except Exception as exc:  # a sentikit error from translate_errors: add what the revision says
        raise DeploymentError(_failure_report(ctx, spec, str(exc))) from None
    revision = (app.get("properties") or {}).get("latestRevisionName") or f"{spec.name}--{suffix}"
    _wait_for_revision(ctx, client, spec, revision, deadline=started + timeout, on_progress=on_progress)
    app = _get_optional(lambda: client.container_apps.get(spec.resource_group, spec.name),
                        f"reading container app '{spec.name}'") or app
    deployment = _describe(client, app, resource_group=spec.resource_group)
    deployment.detail.update({"action": "created" if action == "creating" else "updated", "waited": True,
                              "environment_created": env_created})
    if spec.min_replicas == 0:
        deployment.detail["scale_to_zero"] = SCALE_TO_ZERO_COST
    if spec.desk is not None:
        deployment.detail["monitor_store"] = describe_store(spec.desk)
    if smoke_test:
        if not deployment.url:
            raise CheckFailedError(f"container app '{spec.name}' has no ingress address to smoke-test")
        if on_progress:
            on_progress(f"smoke-testing {deployment.url}", None)
        try:
            deployment.detail["smoke_test"] = run_smoke_test(deployment.url, api_key=spec.api_key, timeout=smoke_timeout,
                                                               verify=tls_trust(ctx), monitor=spec.desk is not None)
        except CheckFailedError as exc:
            raise CheckFailedError(
                f"{exc}{_log_tail(ctx, spec)}\nthe app is still deployed"
                f"{' and its replicas keep billing' if spec.min_replicas else ''}: remove it with "
                f"`sentikit delete --target containerapps --name {spec.name} -g {spec.resource_group} --yes`"
            ) from None
    return deployment


def _wait_for_revision(ctx: AzureContext, client: Any, spec: ContainerAppSpec, revision: str, *, deadline: float,
                       on_progress: ProgressCallback | None) -> None:
    """Until the revision is provisioned and (unless scaled to zero) has a ready replica; raise on failure."""
    wanted = min(max(spec.min_replicas, 0), spec.max_replicas)
    while True:
        current = _get_optional(lambda: client.container_apps_revisions.get_revision(spec.resource_group, spec.name, revision),
                                f"reading revision '{revision}'") or {}
        props = current.get("properties") or {}
        state, running = props.get("provisioningState"), props.get("runningState")
        if state == "Failed" or running in ("Failed", "Degraded") and props.get("provisioningError"):
            raise DeploymentError(
                f"revision {revision} of '{spec.name}' failed: {props.get('provisioningError') or running}"
                + _replica_report(client, spec, revision) + _log_tail(ctx, spec)
            )
        if state == "Provisioned":
            ready = [r for r in _replicas(client, spec.resource_group, spec.name, revision)
                     if any(c.get("ready") for c in (r.get("properties") or {}).get("containers") or [])]
            if len(ready) >= wanted:
                return
        if time.monotonic() > deadline:
            raise DeploymentError(f"revision {revision} of '{spec.name}' is not ready ({state}, {running})"
                                  + _replica_report(client, spec, revision) + _log_tail(ctx, spec))
        if on_progress:
            on_progress(f"waiting for revision {revision}: {state}, {running}", None)
        time.sleep(min(ctx.poll_interval, 2.0))


def _replica_report(client: Any, spec: ContainerAppSpec, revision: str) -> str:
    try:
        replicas = _replicas(client, spec.resource_group, spec.name, revision)
    except Exception:  # best effort inside an error report
        return ""
    lines = []
    for replica in replicas:
        props = replica.get("properties") or {}
        lines.append(f"\nreplica {replica.get('name')}: {props.get('runningState')} {props.get('runningStateDetails') or ''}".rstrip())
        for c in props.get("containers") or []:
            lines.append(f"\n  container {c.get('name')}: {c.get('runningState')}, ready {c.get('ready')}, "
                         f"restarts {c.get('restartCount')}")
    return "".join(lines)


def _log_tail(ctx: AzureContext, spec: ContainerAppSpec, lines: int = 10) -> str:
    try:
        text = container_app_logs(ctx, resource_group=spec.resource_group, name=spec.name, tail=lines).strip()
    except Exception:  # logs are best effort in an error report
        return ""
    return f"\nlast log lines:\n{_scrub(text, spec)}" if text else ""


def _scrub(text: str, spec: ContainerAppSpec) -> str:
    for secret in [spec.api_key, *spec.secure_env.values(), spec.registry_login.password if spec.registry_login else ""]:
        if secret:
            text = text.replace(secret, "***")
    return text


def _failure_report(ctx: AzureContext, spec: ContainerAppSpec, reason: str) -> str:
    """Why a deployment failed: the ARM error, the latest revision's state and replicas, the log tail."""
    parts = [f"deployment of '{spec.name}' failed: {reason}"]
    try:
        client = containerapps_client(ctx)
        app = _get_optional(lambda: client.container_apps.get(spec.resource_group, spec.name), "reading the app")
        revision = ((app or {}).get("properties") or {}).get("latestRevisionName")
        if revision:
            props = (_get_optional(lambda: client.container_apps_revisions.get_revision(spec.resource_group, spec.name, revision),
                                   "reading the revision") or {}).get("properties") or {}
            error = str(props.get("provisioningError") or "")
            parts.append(f"revision {revision}: {props.get('provisioningState')}, {props.get('runningState')}"
                         + (f": {error}" if error and error not in reason else ""))
            parts.append(_replica_report(client, spec, revision).strip())
            ready = ((app or {}).get("properties") or {}).get("latestReadyRevisionName")
            if ready and ready != revision:
                parts.append(f"the previous revision {ready} still serves the traffic")
    except Exception:  # the report must not hide the original error
        pass
    if ".image' is invalid" in reason or "ContainerAppOperationError" in reason and "image" in reason:
        parts.append(f"hint: check that {spec.image} exists and that Container Apps can pull it: --registry NAME "
                     "(admin user) or --registry-identity ID (a user-assigned identity with AcrPull on the registry)")
    return _scrub("\n".join(p for p in parts if p) + _log_tail(ctx, spec), spec)


def delete_container_app(ctx: AzureContext, *, resource_group: str, name: str, environment: str = "",
                         environment_too: bool = False) -> Deployment:
    """Delete the app (waiting for it) and, with ``environment_too``, its environment if no other app uses it."""
    validate_app_name(name)
    client = containerapps_client(ctx)
    app = _get_optional(lambda: client.container_apps.get(resource_group, name), f"reading container app '{name}'")
    detail: dict[str, object] = {"resource_group": resource_group}
    env_name = environment
    image = None
    if app is not None:
        props = app.get("properties") or {}
        env_name = env_name or str(props.get("environmentId") or props.get("managedEnvironmentId") or "").rsplit("/", 1)[-1]
        image = ((props.get("template") or {}).get("containers") or [{}])[0].get("image")
        with translate_errors(f"deleting container app '{name}'"):
            client.container_apps.begin_delete(resource_group, name, polling_interval=ctx.poll_interval).result()
    if environment_too and env_name:
        validate_environment_name(env_name)
        detail["environment"] = env_name
        env = _get_optional(lambda: client.managed_environments.get(resource_group, env_name),
                            f"reading managed environment '{env_name}'")
        if env is None:
            detail["environment_state"] = "NotFound"
        else:
            with translate_errors(f"listing the apps of resource group '{resource_group}'"):
                others = [str(a.name) for a in client.container_apps.list_by_resource_group(resource_group)
                          if str(_rest(a).get("properties", {}).get("environmentId") or "").lower() == str(env["id"]).lower()]
            if others:
                raise InvalidInputError(f"managed environment '{env_name}' still runs {', '.join(sorted(others))}: "
                                        "not deleted (delete those apps first)")
            with translate_errors(f"deleting managed environment '{env_name}'"):
                client.managed_environments.begin_delete(resource_group, env_name, polling_interval=ctx.poll_interval).result()
            detail["environment_state"] = "Deleted"
    return Deployment(name=name, target=TARGET, state="Deleted" if app is not None else "NotFound", image=image,
                      detail=detail)


@register_target(TARGET)
class ContainerAppsTarget:
    """A resource group's Container Apps: where (environment, region), how it scales, how it pulls.

    ``memory_gb`` None gives 2 GiB per vCPU (the ratio Container Apps allows), whatever the ACI-oriented
    memory setting says; ``environment_too`` makes :meth:`delete` remove an environment no other app uses.
    """

    name = TARGET

    def __init__(self, ctx: AzureContext, *, resource_group: str, environment: str = Settings.azure_environment,
                 location: str = "", memory_gb: float | None = None,
                 min_replicas: int = Settings.container_min_replicas,
                 max_replicas: int = Settings.container_max_replicas,
                 concurrency: int = Settings.container_concurrency, cpu_target: int | None = None,
                 registry: str = "", registry_login: RegistryLogin | None = None, registry_identity: str = "",
                 environment_too: bool = False) -> None:
        if not resource_group:
            raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
        validate_environment_name(environment)
        self.ctx, self.resource_group, self.environment, self.location = ctx, resource_group, environment, location
        self.memory_gb = memory_gb
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
        self.concurrency, self.cpu_target = concurrency, cpu_target
        self.registry, self.registry_login, self.registry_identity = registry, registry_login, registry_identity
        self.environment_too = environment_too

    def describe(self) -> str:
        return f"Container Apps in resource group {self.resource_group}"

    def spec(self, options: DeployOptions) -> ContainerAppSpec:
        """The validated app spec for ``options`` (no I/O)."""
        options.validate()
        return ContainerAppSpec(
            name=options.name, resource_group=self.resource_group, image=options.image, environment=self.environment,
            location=self.location, cpu=options.cpu, memory_gb=self.memory_gb, port=options.port,
            env=options.environment(), secure_env=options.secure_environment(), api_key=options.api_key,
            desk=options.desk,
            registry_login=self.registry_login, registry_identity=self.registry_identity, registry=self.registry,
            min_replicas=self.min_replicas, max_replicas=self.max_replicas, concurrency=self.concurrency,
            cpu_target=self.cpu_target,
        ).validate()

    def deploy(self, options: DeployOptions, *, on_progress: ProgressCallback | None = None) -> Deployment:
        return deploy_container_app(self.ctx, self.spec(options), wait=options.wait, timeout=options.timeout,
                                    smoke_test=options.smoke_test, smoke_timeout=options.smoke_timeout,
                                    on_progress=on_progress)

    def status(self, name: str) -> Deployment:
        return container_app_status(self.ctx, resource_group=self.resource_group, name=name)

    def logs(self, name: str, tail: int | None = None) -> str:
        return container_app_logs(self.ctx, resource_group=self.resource_group, name=name, tail=tail)

    def delete(self, name: str) -> Deployment:
        return delete_container_app(self.ctx, resource_group=self.resource_group, name=name,
                                    environment=self.environment, environment_too=self.environment_too)


__all__ = [
    "ALLOWED_CPU",
    "ContainerAppSpec",
    "ContainerAppsTarget",
    "ENVIRONMENT_COST",
    "SCALE_TO_ZERO_COST",
    "container_app_body",
    "container_app_logs",
    "container_app_status",
    "delete_container_app",
    "deploy_container_app",
    "ensure_environment",
    "environment_body",
    "resources_for",
    "validate_app_name",
    "validate_environment_name",
]
