"""``Microsoft.App`` for the ARM stand-in: managed environments, container apps, revisions, replicas,
auth tokens and the log stream, plugged into :class:`arm_standin.ArmStandIn` through its
``extensions`` hook (``ContainerAppsStandIn(arm)``).

Following the REST spec (Microsoft.App stable 2025-01-01, same shapes in the SDK's 2026-07-01):

* ``managedEnvironments/{name}``: PUT 201 + ``Azure-AsyncOperation`` (provisioningState Waiting →
  InitializationInProgress → Succeeded), 200 on update; GET; DELETE 202 + ``Location`` / 204 when absent,
  409 ``ManagedEnvironmentHasContainerApps`` while apps use it.
* ``containerApps/{name}``: PUT 201 + ``Azure-AsyncOperation`` when a create or update starts (the spec's
  200 means "no change"), synchronous 400s for invalid names, CPU/memory pairs
  (``ContainerAppInvalidResourceTotal``), probes, scale bounds, secret references and registry
  credentials; every template change is a new revision ``{app}--{suffix}``; GET leaves secret values out.
  DELETE 202 + ``Location`` / 204. LRO status at ``locations/{loc}/containerappOperationStatuses/{id}``.
* ``revisions``, ``revisions/{name}``, ``revisions/{name}/replicas``, ``getAuthtoken`` and the log stream
  ``…/containerApps/{app}/revisions/{rev}/replicas/{replica}/containers/{c}/logstream`` (Bearer: the app's
  auth token, not an ARM token).
* Resource groups: ``GET /subscriptions/{id}/resourcegroups/{name}`` with a per-group location.

Docker mode (``docker_client``): a revision runs ``max(minReplicas, 1)`` real containers of its image,
pulled with the app's registry credentials (a password secret, or a managed identity registered with
:meth:`grant_pull`), waits for their readiness probe, then moves traffic from the previous revision
(single revision mode: the old replicas keep serving until the new ones are ready). The app's ingress is
an HTTPS reverse proxy on 127.0.0.1 with the stand-in's certificate, round-robin over the ready replicas;
its ``host:port`` is reported as the FQDN. It does not model autoscaling decisions: the replica count
stays at ``max(minReplicas, 1)`` whatever the load.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

API_VERSIONS = {"2024-03-01", "2025-01-01", "2025-07-01", "2026-07-01"}
APP_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,58}[a-z0-9]$")
SECRET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-.]*[a-z0-9]$")
ALLOWED = [(0.25 * i, f"{0.5 * i:.1f}Gi") for i in range(1, 9)]
CONTAINER_LABEL = "io.sentikit.test.aca-standin"
Answer = tuple[int, dict[str, str], Any]


def _error(status: int, code: str, message: str, details: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> Answer:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return status, headers or {}, {"error": body}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _memory_gi(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)Gi", str(text))
    return float(match.group(1)) if match else -1.0


class ContainerAppsStandIn:
    """State and behaviour of ``Microsoft.App`` inside an :class:`ArmStandIn`."""

    def __init__(self, arm: Any, *, docker_client: Any = None, group_locations: dict[str, str] | None = None) -> None:
        self.arm = arm
        self.docker = docker_client
        self.group_locations = {k.lower(): v for k, v in (group_locations or {}).items()}
        if hasattr(arm, "group_locations"):  # the ARM stand-in serves resource groups itself
            arm.group_locations.update(self.group_locations)
        if hasattr(arm, "providers"):  # Microsoft.App joins the providers a subscription registers
            arm.providers.setdefault("Microsoft.App", "Registered")
        self.environments: dict[tuple[str, str], dict[str, Any]] = {}
        self.apps: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}  # what GET leaves out
        self.revisions: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # app key -> name -> revision
        self.replicas: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # (rg, app, revision) -> replicas
        self.operations: dict[str, dict[str, Any]] = {}
        self.log_tokens: dict[str, tuple[str, str]] = {}  # token -> app key
        self.pull_grants: dict[str, set[str]] = {}  # identity id (lower) -> registry hosts it may pull from
        self.proxies: dict[tuple[str, str], "_IngressProxy"] = {}
        self.provision_delay = 0.3
        self.ready_timeout = 60.0
        self.workers: list[threading.Thread] = []
        self.lock = threading.RLock()
        arm.extensions.append(self)

    # --- test controls ---
    def grant_pull(self, identity_id: str, registry_host: str) -> None:
        """Let a user-assigned identity pull from a registry (the AcrPull role assignment)."""
        self.pull_grants.setdefault(identity_id.lower(), set()).add(registry_host.lower())

    def running_containers(self, resource_group: str, app: str) -> list[Any]:
        """The Docker containers of the app's replicas, all revisions."""
        with self.lock:
            return [r["_container"] for (g, a, _), reps in self.replicas.items() if (g, a) == (resource_group.lower(), app.lower())
                    for r in reps if r.get("_container") is not None]

    def stop(self) -> None:
        for worker in list(self.workers):
            worker.join(timeout=120)
        for proxy in list(self.proxies.values()):
            proxy.stop()
        with self.lock:
            containers = [r.get("_container") for reps in self.replicas.values() for r in reps]
        for container in containers:
            _remove(container)

    # --- dispatch (the ArmStandIn hook): None means "not mine" ---
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Optional[Answer]:
        sub = re.escape(self.arm.subscription)
        log = re.match(rf"^/subscriptions/{sub}/resourceGroups/([^/]+)/containerApps/([^/]+)/revisions/([^/]+)"
                       r"/replicas/([^/]+)/containers/([^/]+)/logstream$", path, re.IGNORECASE)
        if log:
            return self._logstream(headers, query, *log.groups())
        group_get = re.match(rf"^/subscriptions/{sub}/resourcegroups/([^/]+)$", path, re.IGNORECASE)
        if group_get and method == "GET" and not hasattr(self.arm, "group_location"):
            self.arm._check_auth(headers)
            return self._resource_group(group_get.group(1))
        provider_op = re.match(rf"^/subscriptions/{sub}/providers/Microsoft\.App/locations/([^/]+)/"
                               r"(containerappOperationStatuses|managedEnvironmentOperationStatuses|"
                               r"containerappOperationResults|managedEnvironmentOperationResults)/([^/]+)$",
                               path, re.IGNORECASE)
        resource = re.match(rf"^/subscriptions/{sub}/resourceGroups/([^/]+)/providers/Microsoft\.App/(.*)$",
                            path, re.IGNORECASE)
        if not provider_op and not resource:
            return None
        self.arm._check_auth(headers)
        if hasattr(self.arm, "_inject"):  # the ARM stand-in's injected faults (429, 5xx, ...)
            self.arm._inject(method, path)
        if hasattr(self.arm, "_require_registered"):  # MissingSubscriptionRegistration on a new subscription
            self.arm._require_registered("Microsoft.App")
        version = query.get("api-version")
        if not version:
            return _error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required for all requests.")
        if version not in API_VERSIONS:
            return _error(400, "NoRegisteredProviderFound",
                          f"No registered resource provider found for location '{self.arm.location}' and API version "
                          f"'{version}' for type 'containerApps'. The supported api-versions are "
                          f"'{', '.join(sorted(API_VERSIONS))}'.")
        if provider_op:
            return self._operation(provider_op.group(2), provider_op.group(3))
        assert resource is not None
        group, tail = resource.group(1), resource.group(2)
        if group.lower() not in {g.lower() for g in self.arm.resource_groups}:
            return _error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        m = re.match(r"^managedEnvironments/([^/]+)$", tail, re.IGNORECASE)
        if m:
            return self._environment(method, group, m.group(1), body)
        if re.match(r"^containerApps/?$", tail, re.IGNORECASE) and method == "GET":
            with self.lock:
                apps = [self._public(a) for (g, _), a in self.apps.items() if g == group.lower()]
            return 200, {}, {"value": apps}
        m = re.match(r"^containerApps/([^/]+)(?:/(getAuthtoken|revisions)(?:/([^/]+)(?:/(replicas))?)?)?$",
                     tail, re.IGNORECASE)
        if m:
            name, sub_resource, revision, replicas = m.groups()
            if sub_resource is None:
                return self._app(method, group, name, body)
            return self._app_child(method, group, name, sub_resource.lower(), revision, replicas)
        return _error(404, "InvalidResourceType", f"The resource type '{tail.split('/')[0]}' could not be found "
                                                  "in the namespace 'Microsoft.App'.")

    # --- resource groups and operations ---
    def _resource_group(self, group: str) -> Answer:
        match = next((g for g in self.arm.resource_groups if g.lower() == group.lower()), None)
        if match is None:
            return _error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        return 200, {}, {"id": f"/subscriptions/{self.arm.subscription}/resourceGroups/{match}", "name": match,
                         "type": "Microsoft.Resources/resourceGroups",
                         "location": self.group_locations.get(match.lower(), self.arm.location),
                         "properties": {"provisioningState": "Succeeded"}}

    def _new_operation(self, kind: str, location: str) -> tuple[dict[str, Any], dict[str, str]]:
        op_id = str(uuid.uuid4())
        op = {"id": op_id, "name": op_id, "status": "InProgress", "startTime": _now(), "kind": kind}
        with self.lock:
            self.operations[op_id] = op
        base = (f"{self.arm.endpoint}/subscriptions/{self.arm.subscription}/providers/Microsoft.App/locations/"
                f"{location.replace(' ', '').lower()}")
        headers = {"Azure-AsyncOperation": f"{base}/{kind}OperationStatuses/{op_id}?api-version=2025-01-01",
                   "Location": f"{base}/{kind}OperationResults/{op_id}?api-version=2025-01-01",
                   "Retry-After": "1"}
        return op, headers

    def _finish(self, op: dict[str, Any], error: Optional[dict[str, Any]] = None) -> None:
        with self.lock:
            op["status"] = "Failed" if error else "Succeeded"
            op["endTime"] = _now()
            if error:
                op["error"] = error

    def _operation(self, kind: str, op_id: str) -> Answer:
        with self.lock:
            op = dict(self.operations.get(op_id) or {})
        if not op:
            return _error(404, "OperationNotFound", f"The operation '{op_id}' could not be found.")
        if kind.lower().endswith("operationresults"):  # the Location of a DELETE
            return (202, {"Retry-After": "1"}, None) if op["status"] == "InProgress" else (200, {}, None)
        op.pop("kind", None)
        return 200, ({"Retry-After": "1"} if op["status"] == "InProgress" else {}), op

    # --- managed environments ---
    def _environment(self, method: str, group: str, name: str, body: Any) -> Answer:
        key = (group.lower(), name.lower())
        with self.lock:
            existing = self.environments.get(key)
        if method == "GET":
            if existing is None:
                return _error(404, "ResourceNotFound",
                              f"The Resource 'Microsoft.App/managedEnvironments/{name}' under resource group '{group}' "
                              "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
            return 200, {}, existing
        if method == "DELETE":
            if existing is None:
                return 204, {}, None
            with self.lock:
                users = [a["name"] for a in self.apps.values() if a["properties"]["environmentId"].lower() == existing["id"].lower()]
            if users:
                return _error(409, "ManagedEnvironmentHasContainerApps",
                              f"Cannot delete managed environment '{name}' because it still has container apps: "
                              f"{', '.join(users)}.")
            op, headers = self._new_operation("managedEnvironment", existing["location"])
            existing["properties"]["provisioningState"] = "ScheduledForDelete"

            def remove() -> None:
                time.sleep(self.provision_delay)
                with self.lock:
                    self.environments.pop(key, None)
                self._finish(op)

            self._spawn(remove)
            return 202, headers, None
        if method != "PUT":
            return _error(405, "MethodNotAllowed", f"{method} is not supported on managedEnvironments")
        if not ENV_NAME_RE.match(name) or "--" in name:
            return _error(400, "ManagedEnvironmentInvalidName",
                          f"Invalid ManagedEnvironment name '{name}'. A name must consist of lower case alphanumeric "
                          "characters or '-', start with an alphabetic character, and end with an alphanumeric character "
                          "and cannot have '--'. The length must not be more than 60 characters.")
        if not isinstance(body, dict) or not body.get("location"):
            return _error(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties") or {}
        profiles = props.get("workloadProfiles") or []
        if profiles and not any(p.get("workloadProfileType") == "Consumption" and p.get("name") for p in profiles):
            return _error(400, "ManagedEnvironmentInvalidWorkloadProfile", "A 'Consumption' workload profile is required.")
        domain = f"{secrets.token_hex(4)}.{body['location'].replace(' ', '').lower()}.azurecontainerapps.io"
        resource = {
            "id": f"/subscriptions/{self.arm.subscription}/resourceGroups/{group}/providers/Microsoft.App/managedEnvironments/{name}",
            "name": name, "type": "Microsoft.App/managedEnvironments", "location": body["location"],
            "tags": body.get("tags") or {},
            "properties": {**props, "provisioningState": "Waiting", "defaultDomain": domain, "staticIp": "127.0.0.1",
                           "eventStreamEndpoint": f"{self.arm.endpoint}/subscriptions/{self.arm.subscription}/"
                                                  f"resourceGroups/{group}/managedEnvironments/{name}/eventstream"},
        }
        if existing is not None:
            resource["properties"].update(provisioningState="Succeeded", defaultDomain=existing["properties"]["defaultDomain"])
            with self.lock:
                self.environments[key] = resource
            return 200, {}, resource
        op, headers = self._new_operation("managedEnvironment", body["location"])
        with self.lock:
            self.environments[key] = resource

        def provision() -> None:
            for state in ("InitializationInProgress", "InfrastructureSetupInProgress", "Succeeded"):
                time.sleep(self.provision_delay / 3)
                with self.lock:
                    resource["properties"]["provisioningState"] = state
            self._finish(op)

        self._spawn(provision)
        headers.pop("Location")
        return 201, headers, resource

    # --- container apps ---
    def _app_key(self, group: str, name: str) -> tuple[str, str]:
        return group.lower(), name.lower()

    def _not_found(self, group: str, name: str) -> Answer:
        return _error(404, "ResourceNotFound",
                      f"The Resource 'Microsoft.App/containerApps/{name}' under resource group '{group}' was not found. "
                      "For more details please go to https://aka.ms/ARMResourceNotFoundFix")

    def _public(self, app: dict[str, Any]) -> dict[str, Any]:
        """What GET returns: secrets by name only."""
        with self.lock:
            copy = json.loads(json.dumps({k: v for k, v in app.items() if not k.startswith("_")}))
        for secret in copy["properties"]["configuration"].get("secrets") or []:
            secret.pop("value", None)
        return copy

    def _app(self, method: str, group: str, name: str, body: Any) -> Answer:
        key = self._app_key(group, name)
        with self.lock:
            existing = self.apps.get(key)
        if method == "GET":
            return (200, {}, self._public(existing)) if existing else self._not_found(group, name)
        if method == "DELETE":
            if existing is None:
                return 204, {}, None
            op, headers = self._new_operation("containerapp", existing["location"])
            existing["properties"]["provisioningState"] = "Deleting"

            def remove() -> None:
                time.sleep(self.provision_delay)
                self._retire(key, keep=None)
                proxy = self.proxies.pop(key, None)
                if proxy:
                    proxy.stop()
                with self.lock:
                    self.apps.pop(key, None)
                    self.secrets.pop(key, None)
                    self.revisions.pop(key, None)
                self._finish(op)

            self._spawn(remove)
            return 202, headers, None
        if method != "PUT":
            return _error(405, "MethodNotAllowed", f"{method} is not supported on containerApps")
        invalid = self._validate_app(group, name, body)
        if invalid is not None:
            return invalid
        return self._put_app(group, name, key, existing, body)

    def _validate_app(self, group: str, name: str, body: Any) -> Optional[Answer]:
        if not APP_NAME_RE.match(name) or "--" in name:
            return _error(400, "ContainerAppInvalidName",
                          f"Invalid ContainerApp name '{name}'. A name must consist of lower case alphanumeric characters "
                          "or '-', start with an alphabetic character, and end with an alphanumeric character and cannot "
                          "have '--'. The length must not be more than 32 characters.")
        if not isinstance(body, dict) or not body.get("location"):
            return _error(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties") or {}
        env_id = props.get("environmentId") or props.get("managedEnvironmentId") or ""
        with self.lock:
            env = next((e for e in self.environments.values() if e["id"].lower() == env_id.lower()), None)
        if env is None:
            return _error(404, "ManagedEnvironmentNotFound", f"Managed environment '{env_id.rsplit('/', 1)[-1]}' was not found.")
        if env["properties"]["provisioningState"] != "Succeeded":
            return _error(409, "ManagedEnvironmentNotProvisioned",
                          f"Managed environment '{env['name']}' is in state {env['properties']['provisioningState']}.")
        if env["location"].replace(" ", "").lower() != str(body["location"]).replace(" ", "").lower():
            return _error(400, "ContainerAppLocationMismatch",
                          f"The container app location '{body['location']}' does not match the location "
                          f"'{env['location']}' of its managed environment.")
        config = props.get("configuration") or {}
        template = props.get("template") or {}
        containers = template.get("containers") or []
        if not containers:
            return _error(400, "ContainerAppContainersRequired", "A container app template needs at least one container.")
        cpu = sum(float((c.get("resources") or {}).get("cpu") or 0.5) for c in containers)
        memory = sum(_memory_gi((c.get("resources") or {}).get("memory") or "1Gi") for c in containers)
        if not any(abs(cpu - c) < 1e-9 and abs(memory - _memory_gi(m)) < 1e-9 for c, m in ALLOWED):
            combos = "; ".join(f"[cpu: {c}, memory: {m}]" for c, m in ALLOWED)
            return _error(400, "ContainerAppInvalidResourceTotal",
                          f"The total requested CPU and memory resources for this application (CPU: {cpu:g}, memory: "
                          f"{memory:g}) is invalid. Total CPU and memory for all containers defined in a Container App "
                          f"must add up to one of the following CPU - Memory combinations: {combos}")
        secret_names = set()
        for secret in config.get("secrets") or []:
            if not SECRET_NAME_RE.match(str(secret.get("name") or "")):
                return _error(400, "ContainerAppSecretInvalidName",
                              f"Secret name '{secret.get('name')}' is invalid: lower case alphanumeric characters, '-' "
                              "or '.', starting and ending with an alphanumeric character.")
            secret_names.add(secret["name"])
        for c in containers:
            for env_var in c.get("env") or []:
                if env_var.get("secretRef") and env_var["secretRef"] not in secret_names:
                    return _error(400, "ContainerAppSecretRefNotFound",
                                  f"Container '{c.get('name')}' references secret '{env_var['secretRef']}' which is not "
                                  "defined in the configuration's secrets.")
            for probe in c.get("probes") or []:
                bad = self._probe_problem(probe)
                if bad:
                    return _error(400, "ContainerAppInvalidProbe", f"Container '{c.get('name')}': {bad}")
        for registry in config.get("registries") or []:
            if registry.get("passwordSecretRef") and registry["passwordSecretRef"] not in secret_names:
                return _error(400, "ContainerAppRegistrySecretNotFound",
                              f"Registry '{registry.get('server')}' references secret '{registry['passwordSecretRef']}' "
                              "which is not defined.")
            identity = registry.get("identity")
            if identity and identity.lower() != "system":
                assigned = ((body.get("identity") or {}).get("userAssignedIdentities") or {})
                if identity.lower() not in {i.lower() for i in assigned}:
                    return _error(400, "ContainerAppRegistryIdentityNotAssigned",
                                  f"The identity '{identity}' used for registry '{registry.get('server')}' is not assigned "
                                  "to the container app.")
        ingress = config.get("ingress")
        if ingress and not 1 <= int(ingress.get("targetPort") or 0) <= 65535:
            return _error(400, "ContainerAppInvalidIngressTargetPort", "Ingress targetPort must be between 1 and 65535.")
        if config.get("activeRevisionsMode", "Single") not in ("Single", "Multiple"):
            return _error(400, "ContainerAppInvalidRevisionsMode", "activeRevisionsMode must be Single or Multiple.")
        scale = template.get("scale") or {}
        low, high = int(scale.get("minReplicas", 0)), int(scale.get("maxReplicas", 10))
        if low < 0 or high < 1 or low > high or high > 1000:
            return _error(400, "ContainerAppInvalidScaleSettings",
                          f"Invalid scale settings: minReplicas {low}, maxReplicas {high} (0 <= min <= max, 1 <= max <= 1000).")
        for rule in scale.get("rules") or []:
            http_rule = (rule.get("http") or {}).get("metadata") or {}
            if "concurrentRequests" in http_rule and not str(http_rule["concurrentRequests"]).isdigit():
                return _error(400, "ContainerAppInvalidScaleRule",
                              f"Scale rule '{rule.get('name')}': concurrentRequests must be a positive integer.")
        suffix = template.get("revisionSuffix")
        if suffix is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", str(suffix)):
            return _error(400, "ContainerAppInvalidRevisionSuffix", f"Invalid revision suffix '{suffix}'.")
        return None

    @staticmethod
    def _probe_problem(probe: dict[str, Any]) -> str:
        if probe.get("type") not in ("Liveness", "Readiness", "Startup"):
            return f"probe type '{probe.get('type')}' must be Liveness, Readiness or Startup"
        limits = {"initialDelaySeconds": (0, 60), "periodSeconds": (1, 240), "timeoutSeconds": (1, 240),
                  "failureThreshold": (1, 10), "successThreshold": (1, 10)}
        for name, (low, high) in limits.items():
            if name in probe and not low <= int(probe[name]) <= high:
                return f"{probe['type']} probe {name} must be between {low} and {high}"
        if not (probe.get("httpGet") or probe.get("tcpSocket")):
            return f"{probe['type']} probe needs httpGet or tcpSocket"
        return ""

    def _put_app(self, group: str, name: str, key: tuple[str, str], existing: Any, body: dict[str, Any]) -> Answer:
        props = body["properties"]
        template = props.get("template") or {}
        previous = (existing or {}).get("_template")
        revision_name = existing["properties"]["latestRevisionName"] if existing else ""
        new_revision = previous is None or json.dumps(previous, sort_keys=True) != json.dumps(template, sort_keys=True)
        if new_revision:
            suffix = template.get("revisionSuffix") or secrets.token_hex(4)[:7]
            revision_name = f"{name}--{suffix}"
            with self.lock:
                if revision_name in self.revisions.get(key, {}):
                    return _error(400, "ContainerAppRevisionSuffixInUse",
                                  f"Revision with suffix '{suffix}' already exists for container app '{name}'.")
        with self.lock:
            env = next(e for e in self.environments.values()
                       if e["id"].lower() == (props.get("environmentId") or props.get("managedEnvironmentId")).lower())
        proxy = self.proxies.get(key)
        if proxy is None and self.docker is not None and (props.get("configuration") or {}).get("ingress"):
            proxy = _IngressProxy(self.arm)
            self.proxies[key] = proxy
        fqdn = proxy.address if proxy else f"{name}.{env['properties']['defaultDomain']}"
        resource = json.loads(json.dumps(body))
        rprops = resource["properties"]
        rprops.update({
            "provisioningState": "InProgress", "runningStatus": "Progressing",
            "environmentId": env["id"], "managedEnvironmentId": env["id"],
            "latestRevisionName": revision_name,
            "latestReadyRevisionName": (existing or {}).get("properties", {}).get("latestReadyRevisionName"),
            "latestRevisionFqdn": f"{revision_name}.{env['properties']['defaultDomain']}",
            "outboundIpAddresses": ["127.0.0.1"],
            "eventStreamEndpoint": f"{self.arm.endpoint}/subscriptions/{self.arm.subscription}/resourceGroups/{group}/"
                                   f"containerApps/{name}/eventstream",
        })
        if rprops["configuration"].get("ingress"):
            rprops["configuration"]["ingress"]["fqdn"] = fqdn
        resource.update({"id": f"/subscriptions/{self.arm.subscription}/resourceGroups/{group}/providers/Microsoft.App/"
                               f"containerApps/{name}", "name": name, "type": "Microsoft.App/containerApps",
                         "_template": template})
        with self.lock:
            self.apps[key] = resource
            self.secrets[key] = {s["name"]: s.get("value", "") for s in rprops["configuration"].get("secrets") or []}
        op, headers = self._new_operation("containerapp", resource["location"])
        headers.pop("Location")
        self._spawn(lambda: self._provision(key, resource, revision_name, new_revision, op))
        return 201, headers, self._public(resource)

    # --- revisions and replicas ---
    def _provision(self, key: tuple[str, str], app: dict[str, Any], revision_name: str, new_revision: bool,
                   op: dict[str, Any]) -> None:
        started = time.monotonic()
        template = app["_template"]
        props = app["properties"]
        if not new_revision:  # configuration-only change (traffic, secrets names): same revision
            time.sleep(self.provision_delay)
            with self.lock:
                props.update(provisioningState="Succeeded", runningStatus="Running")
            self._finish(op)
            return
        revision = {
            "id": f"{app['id']}/revisions/{revision_name}", "name": revision_name,
            "type": "Microsoft.App/containerApps/revisions",
            "properties": {"createdTime": _now(), "fqdn": props["latestRevisionFqdn"], "template": template,
                           "active": True, "replicas": 0, "trafficWeight": 0, "healthState": "None",
                           "provisioningState": "Provisioning", "runningState": "Processing"},
        }
        with self.lock:
            self.revisions.setdefault(key, {})[revision_name] = revision
        wanted = max(int((template.get("scale") or {}).get("minReplicas", 0)), 1)
        containers = template["containers"]
        rkey = (key[0], key[1], revision_name.lower())
        failure = None
        replicas: list[dict[str, Any]] = []
        try:
            if self.docker is not None:
                for c in containers:
                    self._pull(app, c["image"])
            for _ in range(wanted):
                replicas.append(self._start_replica(key, app, revision_name, containers[0]))
        except Exception as exc:  # a pull or start failure fails the revision, as on Container Apps
            detail = str(getattr(exc, "explanation", "") or exc).splitlines()[0][:300]
            failure = (f"Failed to provision revision for container app '{app['name']}'. Error details: The following "
                       f"field(s) are either invalid or missing. Field 'template.containers.{containers[0]['name']}.image' "
                       f"is invalid with details: 'Invalid value: \"{containers[0]['image']}\": {detail}';")
        with self.lock:
            self.replicas[rkey] = replicas
        remaining = self.provision_delay - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        if failure:
            for replica in replicas:
                _remove(replica.get("_container"))
            with self.lock:
                revision["properties"].update(provisioningState="Failed", runningState="Failed", healthState="Unhealthy",
                                              provisioningError=failure, active=False)
                props.update(provisioningState="Failed", runningStatus="Running" if props.get("latestReadyRevisionName") else "Stopped")
                self.replicas[rkey] = []
            self._finish(op, {"code": "ContainerAppOperationError", "message": failure})
            return
        with self.lock:
            revision["properties"].update(provisioningState="Provisioned", runningState="Activating",
                                          replicas=len(replicas))
            props.update(provisioningState="Succeeded")
        self._finish(op)
        # Readiness: the revision gets traffic only once every replica answers its readiness probe.
        crashed = self._wait_ready(app, replicas, containers[0])
        with self.lock:
            if crashed:
                revision["properties"].update(runningState="Failed", healthState="Unhealthy",
                                              provisioningError=crashed)
                return
            revision["properties"].update(runningState="Running", healthState="Healthy", trafficWeight=100)
            props.update(latestReadyRevisionName=revision_name, runningStatus="Running")
            proxy = self.proxies.get(key)
        if proxy is not None:
            proxy.backends = [r["_address"] for r in replicas if r.get("_address")]
        self._retire(key, keep=revision_name)

    def _retire(self, key: tuple[str, str], keep: Optional[str]) -> None:
        """Single revision mode: every other revision is deactivated and its replicas removed."""
        with self.lock:
            victims = [(rk, reps) for rk, reps in self.replicas.items()
                       if rk[:2] == key and (keep is None or rk[2] != keep.lower())]
            for rk, _ in victims:
                self.replicas[rk] = []
            for name, revision in self.revisions.get(key, {}).items():
                if keep is None or name != keep:
                    revision["properties"].update(active=False, replicas=0, trafficWeight=0, runningState="Stopped")
        for _, reps in victims:
            for replica in reps:
                _remove(replica.get("_container"))

    def _pull(self, app: dict[str, Any], image: str) -> None:
        host = image.split("/", 1)[0] if "/" in image and ("." in image.split("/", 1)[0] or ":" in image.split("/", 1)[0]) else ""
        if not host:
            self.docker.images.get(image)  # no Docker Hub here: unqualified images must be local
            return
        auth = None
        key = self._app_key(app["id"].split("/")[4], app["name"])
        for registry in app["properties"]["configuration"].get("registries") or []:
            if registry.get("server", "").lower() != host.lower():
                continue
            if registry.get("passwordSecretRef"):
                auth = {"username": registry.get("username"), "password": self.secrets[key].get(registry["passwordSecretRef"], "")}
            elif registry.get("identity"):
                if host.lower() not in self.pull_grants.get(registry["identity"].lower(), set()):
                    raise RuntimeError(f"GET https://{host}/oauth2/token: UNAUTHORIZED: identity has no AcrPull role")
                user, password = self.arm.registry_admin  # the token the identity would get, in effect
                auth = {"username": user, "password": password}
        repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        self.docker.images.pull(repository, tag=tag, auth_config=auth)

    def _start_replica(self, key: tuple[str, str], app: dict[str, Any], revision: str, container: dict[str, Any]) -> dict[str, Any]:
        name = f"{revision}-{secrets.token_hex(5)[:10]}-{secrets.token_hex(3)[:5]}"
        replica: dict[str, Any] = {
            "id": f"{app['id']}/revisions/{revision}/replicas/{name}", "name": name,
            "type": "Microsoft.App/containerApps/revisions/replicas",
            "_created": _now(), "_ready": self.docker is None, "_state": "Running" if self.docker is None else "NotRunning",
        }
        if self.docker is None:
            return replica
        secret_values = self.secrets.get(key, {})
        env = {e["name"]: (secret_values.get(e["secretRef"], "") if e.get("secretRef") else e.get("value", ""))
               for e in container.get("env") or []}
        port = int(app["properties"]["configuration"].get("ingress", {}).get("targetPort") or 80)
        started = self.docker.containers.run(container["image"], detach=True, environment=env,
                                             ports={f"{port}/tcp": ("127.0.0.1", None)},
                                             labels={CONTAINER_LABEL: "1"}, name=f"aca-standin-{name}")
        started.reload()
        host_port = started.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"]
        replica.update(_container=started, _address=("127.0.0.1", int(host_port)), _state="Running")
        return replica

    def _wait_ready(self, app: dict[str, Any], replicas: list[dict[str, Any]], container: dict[str, Any]) -> str:
        """'' once every replica's readiness probe answers 200; else why the revision failed."""
        readiness = next((p for p in container.get("probes") or [] if p.get("type") == "Readiness"), None)
        path = (readiness or {}).get("httpGet", {}).get("path", "/")
        deadline = time.monotonic() + self.ready_timeout
        for replica in replicas:
            if replica.get("_container") is None:
                continue
            while True:
                replica["_container"].reload()
                if replica["_container"].status in ("exited", "dead"):
                    code = replica["_container"].attrs["State"].get("ExitCode")
                    replica.update(_state="NotRunning", _ready=False)
                    return (f"Container '{container['name']}' was terminated with exit code '{code}' and reason "
                            "'ProcessExited'.")
                try:
                    connection = http.client.HTTPConnection(*replica["_address"], timeout=2)
                    connection.request("GET", path)
                    ok = connection.getresponse().status == 200
                    connection.close()
                except OSError:
                    ok = False
                if ok:
                    replica["_ready"] = True
                    break
                if time.monotonic() > deadline:
                    return f"Container '{container['name']}' did not pass its readiness probe on {path}."
                time.sleep(0.2)
        return ""

    def _replica_view(self, key: tuple[str, str], revision: str, replica: dict[str, Any]) -> dict[str, Any]:
        app = self.apps[key]
        c = app["_template"]["containers"][0]
        container = replica.get("_container")
        restarts = 0
        if container is not None:
            try:
                container.reload()
                restarts = int(container.attrs.get("RestartCount") or 0)
            except Exception:
                pass
        stream = (f"{self.arm.endpoint}/subscriptions/{self.arm.subscription}/resourceGroups/{app['id'].split('/')[4]}/"
                  f"containerApps/{app['name']}/revisions/{revision}/replicas/{replica['name']}/containers/{c['name']}/logstream")
        return {
            "id": replica["id"], "name": replica["name"], "type": replica["type"],
            "properties": {
                "createdTime": replica["_created"], "runningState": replica["_state"],
                "runningStateDetails": "" if replica["_state"] == "Running" else "container exited",
                "containers": [{"name": c["name"], "containerId": getattr(container, "id", "") or "",
                                "ready": bool(replica.get("_ready")), "started": replica["_state"] == "Running",
                                "restartCount": restarts,
                                "runningState": "Running" if replica["_state"] == "Running" else "Terminated",
                                "logStreamEndpoint": stream,
                                "execEndpoint": stream.replace("/logstream", "/exec")}],
            },
        }

    def _app_child(self, method: str, group: str, name: str, child: str, revision: Optional[str],
                   replicas: Optional[str]) -> Answer:
        key = self._app_key(group, name)
        with self.lock:
            app = self.apps.get(key)
        if app is None:
            return self._not_found(group, name)
        if child == "getauthtoken":
            if method != "POST":
                return _error(405, "MethodNotAllowed", "POST only")
            token = secrets.token_urlsafe(24)
            with self.lock:
                self.log_tokens[token] = key
            expires = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 3600))
            return 200, {}, {"id": app["id"], "name": name, "type": "Microsoft.App/containerApps/accesstoken",
                             "location": app["location"], "properties": {"token": token, "expires": expires}}
        if method != "GET":
            return _error(405, "MethodNotAllowed", f"{method} is not supported here")
        with self.lock:
            revisions = dict(self.revisions.get(key, {}))
        if revision is None:
            return 200, {}, {"value": [json.loads(json.dumps(r)) for r in revisions.values()]}
        found = next((r for n, r in revisions.items() if n.lower() == revision.lower()), None)
        if found is None:
            return _error(404, "ContainerAppRevisionNotFound",
                          f"Revision '{revision}' was not found for container app '{name}'.")
        if replicas is None:
            with self.lock:
                view = json.loads(json.dumps(found))
                view["properties"]["replicas"] = len(self.replicas.get((key[0], key[1], revision.lower()), []))
            return 200, {}, view
        with self.lock:
            current = list(self.replicas.get((key[0], key[1], revision.lower()), []))
        return 200, {}, {"value": [self._replica_view(key, found["name"], r) for r in current]}

    def _logstream(self, headers: dict[str, str], query: dict[str, str], group: str, app: str, revision: str,
                   replica: str, container: str) -> Answer:
        auth = headers.get("authorization", "")
        with self.lock:
            owner = self.log_tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if owner != self._app_key(group, app):
            return 401, {"Content-Type": "text/plain"}, "Unauthorized"
        with self.lock:
            found = next((r for r in self.replicas.get((group.lower(), app.lower(), revision.lower()), [])
                          if r["name"] == replica), None)
        if found is None:
            return 404, {"Content-Type": "text/plain"}, f"replica {replica} not found"
        tail = int(query.get("tailLines") or 20)
        if not 0 <= tail <= 300:
            return 400, {"Content-Type": "text/plain"}, "tailLines must be between 0 and 300"
        container_obj = found.get("_container")
        text = "" if container_obj is None else container_obj.logs(stdout=True, stderr=True, tail=tail).decode("utf-8", "replace")
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, text

    def _spawn(self, target: Any) -> None:
        worker = threading.Thread(target=target, daemon=True)
        with self.lock:
            self.workers.append(worker)
        worker.start()


def _remove(container: Any) -> None:
    if container is None:
        return
    try:
        container.remove(force=True)
    except Exception:
        pass


class _IngressProxy:
    """The app's external HTTPS ingress: TLS with the stand-in's certificate, round-robin to ready replicas."""

    def __init__(self, arm: Any) -> None:
        self.backends: list[tuple[str, int]] = []
        self.served: dict[tuple[str, int], int] = {}
        proxy = self
        counter = itertools.count()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                backends = list(proxy.backends)
                if not backends:  # no ready replica yet: what the real ingress answers
                    self._reply(503, b"upstream connect error or disconnect/reset before headers", {})
                    return
                target = backends[next(counter) % len(backends)]
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    upstream = http.client.HTTPConnection(*target, timeout=30)
                    upstream.request(self.command, self.path, body=data, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    extra = {k: v for k, v in response.getheaders()
                             if k.lower() not in ("content-length", "connection", "transfer-encoding")}
                    upstream.close()
                except OSError:
                    self._reply(502, b"bad gateway", {})
                    return
                proxy.served[target] = proxy.served.get(target, 0) + 1
                self._reply(response.status, payload, extra)

            def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(arm._cert, arm._key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
