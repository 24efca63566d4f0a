"""A local stand-in for Azure Resource Manager (and the bits of Azure AD and ACR auth sentikit uses).

It listens on 127.0.0.1 over HTTPS with a certificate from a CA the test generates, and emulates,
following the Azure REST API:

* Azure AD (authority ``https://127.0.0.1:PORT``): OpenID discovery and the v2.0 token endpoint
  for the client-credentials grant, so ``DefaultAzureCredential``'s environment service principal
  really runs; tokens it issues (or that tests register) are the only ones ARM accepts.
* ``Microsoft.ContainerRegistry/registries``: GET, PUT (201 + ``Azure-AsyncOperation``, 200 on
  update; 400 invalid name; 409 name taken), DELETE, ``listCredentials``, ``checkNameAvailability``.
  Every registry's ``loginServer`` is the test's real local registry, so pushes really happen.
* ACR's ``/v2/`` Bearer challenge and ``POST /oauth2/exchange`` (AAD access token → refresh token).
* ``Microsoft.ContainerInstance/containerGroups``: PUT (201 create / 200 update, LRO through
  ``Azure-AsyncOperation``: InProgress → Succeeded/Failed), GET with instance view (secure values
  and registry passwords left out, as ACI does), DELETE (200, 204 when absent), and
  ``containers/{name}/logs``. The group's container really runs on the local Docker engine, pulled
  with the group's registry credentials and published on ``127.0.0.1:<port>``; that address is
  reported as the group's IP and FQDN. A pull failure makes the operation fail with
  ``InaccessibleImage`` and Warning events, like ACI.
* Cross-cutting: ``api-version`` required and checked per provider (400), bearer token required
  (401), resource groups must exist (404 ``ResourceGroupNotFound``), ARM error bodies
  ``{"error": {"code", "message"}}``, and every request recorded for assertions.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

API_VERSIONS = {
    "Microsoft.ContainerRegistry": {"2019-05-01", "2023-07-01", "2025-04-01", "2025-11-01"},
    "Microsoft.ContainerInstance": {"2021-10-01", "2023-05-01", "2024-05-01-preview"},
}
REGISTRY_NAME_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
GROUP_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
CONTAINER_LABEL = "io.sentikit.test.aci-standin"
TOKEN_ISSUER = "sentikit-acr-standin"


# --- certificates -------------------------------------------------------------------------------
def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost; returns (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sentikit test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


# --- state ----------------------------------------------------------------------------------------
@dataclass
class Recorded:
    """One request as the stand-in saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0

    @property
    def raw_body(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


@dataclass
class Operation:
    id: str
    status: str = "InProgress"
    error: Optional[dict[str, str]] = None
    start: str = field(default_factory=lambda: _now())


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ArmFault(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Optional[dict[str, str]] = None,
                 details: Optional[list[dict[str, str]]] = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}
        self.details = details or []


@dataclass
class Fault:
    """An injected failure: the next ``count`` requests matching ``method`` and ``path`` get this answer."""

    method: str
    path: str  # a substring of the request path
    status: int
    code: str
    message: str = "injected fault"
    retry_after: Optional[float] = None
    count: int = 1
    details: list[dict[str, str]] = field(default_factory=list)
    served: int = 0


DNS_LABEL_RE = re.compile(r"^[a-z][a-z0-9-]{3,61}[a-z0-9]$")
# Fields ACI cannot update in place: (path into properties, label).
IMMUTABLE_FIELDS = ("osType", "restartPolicy", "ipAddress.type", "cpu", "memoryInGB")
PROVIDERS = ("Microsoft.ContainerInstance", "Microsoft.ContainerRegistry")


def resource_not_found(resource_type: str, name: str, group: str) -> ArmFault:
    """ARM's 404 for a missing resource, worded as Azure words it."""
    return ArmFault(404, "ResourceNotFound",
                    f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def _immutable(resource: dict[str, Any], field_: str) -> Any:
    props = resource.get("properties") or {}
    if field_ in ("cpu", "memoryInGB"):
        return [((c.get("properties") or {}).get("resources") or {}).get("requests", {}).get(field_)
                for c in props.get("containers") or []]
    if field_ == "ipAddress.type":
        return (props.get("ipAddress") or {}).get("type")
    return props.get(field_)


class ArmStandIn:
    """The stand-in's state and behaviour; :meth:`start` serves it over HTTPS in a thread."""

    def __init__(
        self,
        tls_dir: Path,
        *,
        subscription: str,
        resource_groups: set[str],
        tenant: str = "72f988bf-86f1-41af-91ab-2d7cd011db47",
        client_id: str = "",
        client_secret: str = "",
        registry_host: str = "",
        registry_admin: tuple[str, str] = ("", ""),
        taken_registry_names: set[str] | None = None,
        docker_client: Any = None,
        location: str = "westeurope",
        group_locations: dict[str, str] | None = None,
        unregistered_providers: set[str] | None = None,
        can_register_providers: bool = True,
        taken_dns_labels: set[tuple[str, str]] | None = None,
        lro_retry_after: bool = True,
    ) -> None:
        self.ca_path, self._cert, self._key = make_tls_files(tls_dir)
        self.subscription = subscription
        self.resource_groups = set(resource_groups)
        self.tenant = tenant
        self.client_id, self.client_secret = client_id, client_secret
        self.registry_host = registry_host
        self.registry_admin = registry_admin
        self.taken_registry_names = set(taken_registry_names or ())
        self.docker = docker_client
        self.location = location
        self.tokens: set[str] = set()
        self.audiences: dict[str, str] = {}
        # Roles the test identity holds on the registries (AcrPush implies pull; none: nothing).
        self.registry_roles: set[str] = {"AcrPush"}
        # The Azure Policy "ARM audience token authentication disabled": /oauth2/exchange takes ACR-audience tokens only.
        self.arm_audience_tokens_disabled = False
        self.refresh_tokens: set[str] = set()
        self.requests: list[Recorded] = []
        self.registries: dict[tuple[str, str], dict[str, Any]] = {}
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.secure: dict[tuple[str, str], dict[str, Any]] = {}  # what GET leaves out
        self.operations: dict[str, Operation] = {}
        self.containers: dict[tuple[str, str], Any] = {}
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.provision_delay = 0.3  # the group stays InProgress at least this long
        self.workers: list[threading.Thread] = []
        # Other providers' stand-ins (e.g. containerapps_standin.py): handle(...) answers or returns None.
        self.extensions: list[Any] = []
        self.group_locations = {k.lower(): v for k, v in (group_locations or {}).items()}
        # Providers a new subscription has not registered yet; name -> "NotRegistered"/"Registering"/"Registered".
        self.providers = {p: ("NotRegistered" if p in (unregistered_providers or set()) else "Registered")
                          for p in PROVIDERS}
        self.can_register_providers = can_register_providers
        self.register_delay = 0.3
        # (location, label) pairs other tenants hold: ACI labels with the Unsecure scope are per region.
        self.taken_dns_labels = set(taken_dns_labels or ())
        self.lro_retry_after = lro_retry_after
        self.faults: list[Fault] = []
        # Identities (resource ids) holding AcrPull on the registries, for identity-based pulls.
        self.acr_pull_identities: set[str] = set()

    # --- lifecycle ---
    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "ArmStandIn":
        standin = self

        class Handler(_Handler):
            owner = standin

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for worker in list(self.workers):  # a provisioning thread may still be starting a container
            worker.join(timeout=120)
        for extension in self.extensions:
            extension.stop()
        for key in list(self.containers):
            self._remove_container(key)

    def issue_token(self, tenant: str | None = None, audience: str = "https://management.azure.com") -> str:
        """A JWT-shaped access token ARM will accept (unsigned: the stand-in only looks it up)."""

        def b64(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        claims = {"tid": tenant or self.tenant, "aud": audience, "jti": uuid.uuid4().hex}
        token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.{secrets.token_urlsafe(16)}"
        with self.lock:
            self.tokens.add(token)
            self.audiences[token] = audience
        return token

    def seed_registry(self, resource_group: str, name: str, *, admin_user_enabled: bool = True) -> dict[str, Any]:
        """An existing registry, as if created earlier."""
        with self.lock:
            resource = self._registry_resource(resource_group, name, {"location": self.location,
                                                                       "sku": {"name": "Basic"},
                                                                       "properties": {"adminUserEnabled": admin_user_enabled}})
            resource["properties"]["provisioningState"] = "Succeeded"
            self.registries[(resource_group.lower(), name.lower())] = resource
            return resource

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        """Recorded requests, filtered by method and a path substring."""
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    # --- dispatch ---
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        self._inject(method, path)
        lowered = path.lower()
        if lowered.startswith(f"/{self.tenant.lower()}/") or lowered.startswith("/common/") or "/oauth2/v2.0/" in lowered:
            return self._aad(method, path, body)
        if lowered == "/v2/" or lowered == "/v2":
            return 401, {"WWW-Authenticate": f'Bearer realm="{self.endpoint}/oauth2/token",service="{self.authority}"'}, {
                "errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        if lowered == "/oauth2/exchange":
            return self._exchange(method, body)
        if lowered == "/oauth2/token":
            return self._registry_token(method, query, headers, body)
        for extension in self.extensions:
            answer = extension.handle(method, path, query, headers, body)
            if answer is not None:
                return answer
        self._check_auth(headers)
        match = re.match(r"^/subscriptions/([^/]+)(/.*)?$", path, re.IGNORECASE)
        if not match:
            raise ArmFault(404, "InvalidResourceType", f"The resource path '{path}' is not valid.")
        if match.group(1).lower() != self.subscription.lower():
            raise ArmFault(404, "SubscriptionNotFound", f"The subscription '{match.group(1)}' could not be found.")
        rest = match.group(2) or ""
        rg = re.match(r"^/resourcegroups/([^/]+)$", rest, re.IGNORECASE)
        if rg and method == "GET":
            return self._resource_group(rg.group(1))
        reg = re.match(r"^/providers/([^/]+?)(/register)?$", rest, re.IGNORECASE)
        if reg:
            return self._provider(method, reg.group(1), bool(reg.group(2)))
        m = re.match(r"^/providers/([^/]+)/(.*)$", rest, re.IGNORECASE)
        if m:
            provider, tail = m.group(1), m.group(2)
            self._check_api_version(provider, query)
            if provider.lower() == "microsoft.containerregistry" and tail.lower() == "checknameavailability" and method == "POST":
                return self._check_name(body)
            if provider.lower() == "microsoft.containerregistry" and tail.lower() == "registries" and method == "GET":
                self._require_registered(provider)
                with self.lock:
                    return 200, {}, {"value": list(self.registries.values())}
            op = re.match(r"^locations/([^/]+)/operations/([^/]+)$", tail, re.IGNORECASE)
            if op and method == "GET":
                return self._operation(op.group(2))
            raise ArmFault(404, "InvalidResourceType", f"The resource type could not be found for '{path}'.")
        m = re.match(r"^/resourceGroups/([^/]+)/providers/([^/]+)/(.*)$", rest, re.IGNORECASE)
        if not m:
            raise ArmFault(404, "InvalidResourceType", f"The resource path '{path}' is not valid.")
        group, provider, tail = m.group(1), m.group(2), m.group(3)
        self._check_api_version(provider, query)
        if group.lower() not in {g.lower() for g in self.resource_groups}:
            raise ArmFault(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        self._require_registered(provider)
        if provider.lower() == "microsoft.containerregistry":
            return self._registries(method, group, tail, body)
        if provider.lower() == "microsoft.containerinstance":
            return self._container_groups(method, group, tail, query, body)
        raise ArmFault(400, "NoRegisteredProviderFound", f"No registered resource provider found for '{provider}'.")

    # --- faults, resource groups, providers ---
    def fail(self, method: str, path: str, status: int, code: str, message: str = "injected fault", *,
             retry_after: Optional[float] = None, count: int = 1, details: Optional[list[dict[str, str]]] = None) -> Fault:
        """Answer the next ``count`` matching requests with this error (429/403/5xx, with ``error.details``)."""
        fault = Fault(method, path, status, code, message, retry_after, count, list(details or []))
        with self.lock:
            self.faults.append(fault)
        return fault

    def _inject(self, method: str, path: str) -> None:
        with self.lock:
            fault = next((f for f in self.faults if f.served < f.count and f.method == method and f.path in path), None)
            if fault is None:
                return
            fault.served += 1
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        raise ArmFault(fault.status, fault.code, fault.message, headers, fault.details)

    def group_location(self, group: str) -> str:
        return self.group_locations.get(group.lower(), self.location)

    def _resource_group(self, group: str) -> tuple[int, dict[str, str], Any]:
        if group.lower() not in {g.lower() for g in self.resource_groups}:
            raise ArmFault(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        return 200, {}, {"id": f"/subscriptions/{self.subscription}/resourceGroups/{group}", "name": group,
                         "type": "Microsoft.Resources/resourceGroups", "location": self.group_location(group),
                         "properties": {"provisioningState": "Succeeded"}}

    def _provider_name(self, namespace: str) -> str:
        name = next((p for p in self.providers if p.lower() == namespace.lower()), None)
        if name is None:
            raise ArmFault(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
        return name

    def _provider(self, method: str, namespace: str, register: bool) -> tuple[int, dict[str, str], Any]:
        name = self._provider_name(namespace)
        if register:
            if method != "POST":
                raise ArmFault(405, "MethodNotAllowed", "POST only")
            if not self.can_register_providers:
                raise ArmFault(403, "AuthorizationFailed",
                               f"The client '{self.client_id}' does not have authorization to perform action "
                               f"'{name}/register/action' over scope '/subscriptions/{self.subscription}' or the scope is invalid.")
            with self.lock:
                if self.providers[name] == "NotRegistered":
                    self.providers[name] = "Registering"

                    def done() -> None:
                        time.sleep(self.register_delay)
                        with self.lock:
                            self.providers[name] = "Registered"

                    threading.Thread(target=done, daemon=True).start()
        with self.lock:
            state = self.providers[name]
        return 200, {}, {"id": f"/subscriptions/{self.subscription}/providers/{name}", "namespace": name,
                         "registrationState": state}

    def _require_registered(self, provider: str) -> None:
        name = next((p for p in self.providers if p.lower() == provider.lower()), None)
        with self.lock:
            state = self.providers.get(name) if name else "Registered"
        if state != "Registered":
            raise ArmFault(409, "MissingSubscriptionRegistration",
                           f"The subscription is not registered to use namespace '{name}'. See "
                           "https://aka.ms/rps-not-found for how to register subscriptions.",
                           details=[{"code": "MissingSubscriptionRegistration", "target": name,
                                     "message": f"The subscription is not registered to use namespace '{name}'."}])

    def _check_auth(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise ArmFault(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                           {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."'})
        with self.lock:
            known = auth[len("Bearer "):] in self.tokens
        if not known:
            raise ArmFault(401, "InvalidAuthenticationToken", "The access token is invalid.",
                           {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The access token is invalid."'})

    def _check_api_version(self, provider: str, query: dict[str, str]) -> None:
        version = query.get("api-version")
        if not version:
            raise ArmFault(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        supported = next((v for k, v in API_VERSIONS.items() if k.lower() == provider.lower()), None)
        if supported is not None and version not in supported:
            raise ArmFault(400, "InvalidResourceType" if False else "NoRegisteredProviderFound",
                           f"No registered resource provider found for location '{self.location}' and API version "
                           f"'{version}' for type '{provider}'. The supported api-versions are '{', '.join(sorted(supported))}'.")

    # --- Azure AD ---
    def _aad(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        base = f"{self.endpoint}/{self.tenant}"
        if method == "GET" and path.endswith("/v2.0/.well-known/openid-configuration"):
            return 200, {}, {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            }
        if method == "POST" and path.endswith("/oauth2/v2.0/token"):
            form = body if isinstance(body, dict) else {}
            if form.get("grant_type") != "client_credentials":
                return 400, {}, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: unsupported grant type"}
            if form.get("client_id") != self.client_id or not secrets.compare_digest(
                str(form.get("client_secret", "")), self.client_secret
            ):
                return 401, {}, {"error": "invalid_client",
                                 "error_description": "AADSTS7000215: Invalid client secret provided.",
                                 "error_codes": [7000215]}
            scope = str(form.get("scope", "")).split(" ")[0]
            audience = scope.removesuffix("/.default") if "containerregistry" in scope else "https://management.azure.com"
            return 200, {}, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                             "access_token": self.issue_token(audience=audience)}
        return 404, {}, {"error": "not_found", "error_description": f"AADSTS90002: '{path}' not found"}

    def _exchange(self, method: str, body: Any) -> tuple[int, dict[str, str], Any]:
        form = body if isinstance(body, dict) else {}
        if method != "POST":
            raise ArmFault(405, "MethodNotAllowed", "POST only")
        with self.lock:
            valid = form.get("grant_type") == "access_token" and form.get("access_token") in self.tokens
            audience = self.audiences.get(str(form.get("access_token")), "")
        if valid and self.arm_audience_tokens_disabled and audience != "https://containerregistry.azure.net":
            return 401, {}, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "ARM audience tokens are disabled for this registry"}]}
        if not valid or not form.get("service"):
            return 401, {}, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid access token"}]}
        refresh = secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens.add(refresh)
        return 200, {}, {"refresh_token": refresh}

    # --- the registry's token server (ACR's /oauth2/token in front of a real token-auth registry) ---
    def token_signing_files(self, directory: Path) -> Path:
        """An RSA key and certificate the registry trusts for this server's JWTs; returns the cert path."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.timezone.utc)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acr token signer")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self._token_key, self._token_cert = key, cert
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "token-signer.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def _jwt(self, service: str, access: list[dict[str, Any]]) -> str:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        der = self._token_cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": TOKEN_ISSUER, "sub": "sentikit-test", "aud": service, "exp": now + 600, "nbf": now - 60,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
        signature = self._token_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{b64(signature)}"

    def _registry_token(self, method: str, query: dict[str, str], headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        """ACR's token endpoint: a refresh token (or the admin user) -> a registry access token, per role."""
        form = body if isinstance(body, dict) else {}
        refresh = ""
        admin = False
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            refresh = password if user == "00000000-0000-0000-0000-000000000000" else ""
            admin = (user, password) == tuple(self.registry_admin) and bool(user)
        elif method == "POST" and form.get("grant_type") == "refresh_token":
            refresh = str(form.get("refresh_token", ""))
        with self.lock:
            known = refresh in self.refresh_tokens
        if not (known or admin):
            return 401, {}, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        roles = {"AcrPush", "AcrPull"} if admin else set(self.registry_roles)
        allowed = ({"pull"} if roles & {"AcrPull", "AcrPush"} else set()) | ({"push"} if "AcrPush" in roles else set())
        access = []
        scopes = (form.get("scope") or query.get("scope") or "").split()
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in allowed]
            access.append({"type": kind, "name": name, "actions": granted})
        service = str(form.get("service") or query.get("service") or "")
        token = self._jwt(service, access)
        return 200, {}, {"access_token": token, "token": token, "expires_in": 600}

    # --- operations ---
    def _new_operation(self) -> Operation:
        op = Operation(id=uuid.uuid4().hex)
        with self.lock:
            self.operations[op.id] = op
        return op

    def _async_headers(self, provider: str, op: Operation, api_version: str) -> dict[str, str]:
        url = (f"{self.endpoint}/subscriptions/{self.subscription}/providers/{provider}/locations/"
               f"{self.location}/operations/{op.id}?api-version={api_version}")
        return {"Azure-AsyncOperation": url, **({"Retry-After": "1"} if self.lro_retry_after else {})}

    def _operation(self, op_id: str) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            op = self.operations.get(op_id)
        if op is None:
            raise ArmFault(404, "OperationNotFound", f"The operation '{op_id}' could not be found.")
        body: dict[str, Any] = {"id": op_id, "name": op_id, "status": op.status, "startTime": op.start}
        if op.error:
            body["error"] = op.error
        headers = {"Retry-After": "1"} if op.status == "InProgress" and self.lro_retry_after else {}
        return 200, headers, body

    # --- registries ---
    def _registry_resource(self, group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        props = body.get("properties") or {}
        return {
            "id": f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}",
            "name": name,
            "type": "Microsoft.ContainerRegistry/registries",
            "location": body.get("location", self.location),
            "tags": body.get("tags") or {},
            "sku": {"name": (body.get("sku") or {}).get("name", "Basic"), "tier": (body.get("sku") or {}).get("name", "Basic")},
            "properties": {
                "loginServer": self.registry_host or f"{name.lower()}.azurecr.io",
                "creationDate": _now(),
                "provisioningState": "Creating",
                "adminUserEnabled": bool(props.get("adminUserEnabled", False)),
                "publicNetworkAccess": "Enabled",
            },
        }

    def _check_name(self, body: Any) -> tuple[int, dict[str, str], Any]:
        name = str((body or {}).get("name", ""))
        if not REGISTRY_NAME_RE.match(name):
            return 200, {}, {"nameAvailable": False, "reason": "Invalid",
                             "message": "The specified resource name is invalid."}
        with self.lock:
            taken = name.lower() in self.taken_registry_names or any(n == name.lower() for _, n in self.registries)
        if taken:
            return 200, {}, {"nameAvailable": False, "reason": "AlreadyExists",
                             "message": f"The registry {name} is already in use."}
        return 200, {}, {"nameAvailable": True}

    def _registries(self, method: str, group: str, tail: str, body: Any) -> tuple[int, dict[str, str], Any]:
        m = re.match(r"^registries/([^/]+)(/listCredentials)?$", tail, re.IGNORECASE)
        if not m:
            raise ArmFault(404, "InvalidResourceType", f"The resource type '{tail}' could not be found.")
        name, action = m.group(1), m.group(2)
        key = (group.lower(), name.lower())
        not_found = resource_not_found("Microsoft.ContainerRegistry/registries", name, group)
        with self.lock:
            existing = self.registries.get(key)
        if action:
            if method != "POST":
                raise ArmFault(405, "MethodNotAllowed", "listCredentials requires POST")
            if existing is None:
                raise not_found
            if not existing["properties"]["adminUserEnabled"]:
                raise ArmFault(400, "UnAuthorizedForCredentialOperations",
                               f"Cannot perform credential operations for {existing['id']} as admin user is disabled. "
                               "Kindly enable admin user as per docs: "
                               "https://docs.microsoft.com/en-us/azure/container-registry/container-registry-authentication#admin-account")
            user, password = self.registry_admin
            return 200, {}, {"username": user, "passwords": [{"name": "password", "value": password},
                                                              {"name": "password2", "value": password + "2"}]}
        if method == "GET":
            if existing is None:
                raise not_found
            return 200, {}, existing
        if method == "DELETE":
            with self.lock:
                self.registries.pop(key, None)
            return (200 if existing else 204), {}, None
        if method == "PUT":
            if not REGISTRY_NAME_RE.match(name):
                raise ArmFault(400, "InvalidResourceName",
                               f"Resource name {name} is invalid. The name can contain only letters and numbers, "
                               "and must be between 5 and 50 characters long.")
            with self.lock:
                elsewhere = any(n == name.lower() and g != group.lower() for g, n in self.registries)
            if existing is None and (name.lower() in self.taken_registry_names or elsewhere):
                raise ArmFault(409, "AlreadyInUse",
                               f"The registry DNS name {name.lower()}.azurecr.io is already in use. You can check if "
                               "the name is already claimed using following API: "
                               "https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability")
            if not isinstance(body, dict) or not body.get("location") or not (body.get("sku") or {}).get("name"):
                raise ArmFault(400, "InvalidRequestContent", "The request content must include 'location' and 'sku.name'.")
            resource = self._registry_resource(group, name, body)
            if existing is not None:
                resource["properties"]["provisioningState"] = "Succeeded"
                with self.lock:
                    self.registries[key] = resource
                return 200, {}, resource
            op = self._new_operation()
            with self.lock:
                self.registries[key] = resource

            def finish() -> None:
                time.sleep(self.provision_delay)
                with self.lock:
                    resource["properties"]["provisioningState"] = "Succeeded"
                    op.status = "Succeeded"

            threading.Thread(target=finish, daemon=True).start()
            return 201, self._async_headers("Microsoft.ContainerRegistry", op, "2025-11-01"), resource
        raise ArmFault(405, "MethodNotAllowed", f"{method} is not supported on registries")

    # --- container groups ---
    def _container_groups(self, method: str, group: str, tail: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        m = re.match(r"^containerGroups/([^/]+)(?:/containers/([^/]+)/logs|/(restart))?$", tail, re.IGNORECASE)
        if not m:
            raise ArmFault(404, "InvalidResourceType", f"The resource type '{tail}' could not be found.")
        name, container, restart = m.group(1), m.group(2), m.group(3)
        key = (group.lower(), name.lower())
        not_found = resource_not_found("Microsoft.ContainerInstance/containerGroups", name, group)
        with self.lock:
            existing = self.groups.get(key)
        if restart is not None:
            if method != "POST":
                raise ArmFault(405, "MethodNotAllowed", "POST only")
            if existing is None:
                raise not_found
            # A restart pulls the image again (a new image under the same tag runs now).
            op = self._new_operation()
            worker = threading.Thread(target=self._provision, args=(key, existing, op), daemon=True)
            with self.lock:
                existing["properties"]["provisioningState"] = "Updating"
                self.workers.append(worker)
            worker.start()
            return 204, self._async_headers("Microsoft.ContainerInstance", op, "2023-05-01"), None
        if container is not None:
            if method != "GET":
                raise ArmFault(405, "MethodNotAllowed", "GET only")
            if existing is None:
                raise not_found
            names = [c["name"] for c in existing["properties"]["containers"]]
            if container not in names:
                raise ArmFault(404, "ContainerNotFound", f"The container '{container}' could not be found in container group '{name}'.")
            tail_lines = int(query["tail"]) if query.get("tail") else None
            return 200, {}, {"content": self._logs(key, tail_lines)}
        if method == "GET":
            if existing is None:
                raise not_found
            return 200, {}, self._public(existing)
        if method == "DELETE":
            if existing is None:
                return 204, {}, None
            self._remove_container(key)
            with self.lock:
                self.groups.pop(key, None)
                self.secure.pop(key, None)
            return 200, {}, self._public(existing)
        if method == "PUT":
            return self._put_group(group, name, key, existing, body)
        raise ArmFault(405, "MethodNotAllowed", f"{method} is not supported on containerGroups")

    def _put_group(self, group: str, name: str, key: tuple[str, str], existing: Any, body: Any) -> tuple[int, dict[str, str], Any]:
        if not GROUP_NAME_RE.match(name) or "--" in name:
            raise ArmFault(400, "ContainerGroupNameInvalid",
                           f"The container group name '{name}' is invalid. The name must be 1 to 63 characters, "
                           "contain only lowercase letters, numbers and '-', and not start or end with '-'.")
        props = (body or {}).get("properties") if isinstance(body, dict) else None
        if not props or not props.get("containers"):
            raise ArmFault(400, "ContainerGroupContainersEmpty", "The containers of container group must not be empty.")
        if props.get("osType") not in ("Linux", "Windows"):
            raise ArmFault(400, "InvalidOsType", "The osType must be 'Linux' or 'Windows'.")
        for c in props["containers"]:
            requests = ((c.get("properties") or {}).get("resources") or {}).get("requests") or {}
            if not requests.get("cpu") or not requests.get("memoryInGB"):
                raise ArmFault(400, "ResourceRequestsMissing", f"The container '{c.get('name')}' must request cpu and memoryInGB.")
        if not body.get("location"):
            raise ArmFault(400, "LocationRequired", "The location property is required for this definition.")
        ip = props.get("ipAddress") or {}
        label = ip.get("dnsNameLabel")
        if label and not DNS_LABEL_RE.match(label):
            raise ArmFault(400, "InvalidDnsNameLabel",
                           f"The DNS name label '{label}' in container group '{name}' is invalid. It can contain only "
                           "lowercase letters, numbers and hyphens. The first character must be a letter. The last "
                           "character must be a letter or number. The value must be between 5 and 63 characters long.")
        if existing is not None:
            changed = [f for f in IMMUTABLE_FIELDS if _immutable(existing, f) != _immutable(body, f)]
            if changed:
                raise ArmFault(409, "InvalidContainerGroupUpdate",
                               f"The updates on container group '{name}' are invalid. If you are going to update the os "
                               "type, restart policy, network profile, CPU, memory or GPU resources for a container "
                               "group, you must delete it first and then create a new one.")
        scope = ip.get("autoGeneratedDomainNameLabelScope") or "Unsecure"
        if label and scope == "Unsecure":
            with self.lock:
                clash = (body["location"].lower(), label) in self.taken_dns_labels or any(
                    k != key and (g.get("location", "").lower() == body["location"].lower())
                    and (g["properties"].get("ipAddress") or {}).get("dnsNameLabel") == label
                    and ((g["properties"].get("ipAddress") or {}).get("autoGeneratedDomainNameLabelScope") or "Unsecure") == "Unsecure"
                    for k, g in self.groups.items())
            if clash:
                raise ArmFault(400, "DnsNameLabelNotAvailable",
                               f"The DNS name label '{label}' in container group '{name}' not available. Try using a "
                               "different label.")
        self._check_pull_credentials(name, body)
        if existing is not None and self._same_spec(key, existing, body):
            # ACI: an unchanged spec is a no-op; the running container stays, the image is not pulled again.
            op = self._new_operation()
            op.status = "Succeeded"
            return 200, self._async_headers("Microsoft.ContainerInstance", op, "2023-05-01"), self._public(existing)
        resource = json.loads(json.dumps(body))
        resource.update({
            "id": f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
            "name": name,
            "type": "Microsoft.ContainerInstance/containerGroups",
        })
        rprops = resource["properties"]
        rprops["provisioningState"] = "Pending" if existing is None else "Updating"
        if resource.get("identity"):
            for value in (resource["identity"].get("userAssignedIdentities") or {}).values():
                value.update({"principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4())})
            resource["identity"]["tenantId"] = self.tenant
        if ip:
            host_port = ip["ports"][0]["port"] if ip.get("ports") else 80
            rprops["ipAddress"]["ip"] = "127.0.0.1"
            # Real ACI: <label>.<location>.azurecontainer.io; here the published loopback address.
            rprops["ipAddress"]["fqdn"] = "127.0.0.1" if label else None
            rprops["ipAddress"]["hostPort"] = host_port
        for c in rprops["containers"]:
            c["properties"]["instanceView"] = {"restartCount": 0, "currentState": {"state": "Waiting", "detailStatus": ""}, "events": []}
        rprops["instanceView"] = {"state": "Pending", "events": []}
        op = self._new_operation()
        with self.lock:
            self.groups[key] = resource
        worker = threading.Thread(target=self._provision, args=(key, resource, op), daemon=True)
        with self.lock:
            self.workers.append(worker)
        worker.start()
        status = 200 if existing is not None else 201
        return status, self._async_headers("Microsoft.ContainerInstance", op, "2023-05-01"), self._public(resource)

    def _check_pull_credentials(self, name: str, body: dict[str, Any]) -> None:
        """ACI refuses an ACR image it cannot pull on the PUT itself (400 InaccessibleImage)."""
        props = body["properties"]
        identities = {k.lower() for k in ((body.get("identity") or {}).get("userAssignedIdentities") or {})}
        for c in props["containers"]:
            image = (c.get("properties") or {}).get("image", "")
            host = image.split("/", 1)[0].lower() if "/" in image else ""
            if not host.endswith(".azurecr.io"):
                continue
            ok = False
            for cred in props.get("imageRegistryCredentials") or []:
                if (cred.get("server") or "").lower() != host:
                    continue
                if cred.get("identity"):
                    ok = cred["identity"].lower() in identities and cred["identity"].lower() in {
                        i.lower() for i in self.acr_pull_identities}
                else:
                    ok = (cred.get("username"), cred.get("password")) == tuple(self.registry_admin)
            if not ok:
                raise ArmFault(400, "InaccessibleImage",
                               f"The image '{image}' in container group '{name}' is not accessible. Please check the "
                               "image and registry credential.")

    def _same_spec(self, key: tuple[str, str], existing: dict[str, Any], body: dict[str, Any]) -> bool:
        def view(resource: dict[str, Any]) -> Any:
            copy = json.loads(json.dumps(resource))
            p = copy.get("properties", {})
            for field_ in ("provisioningState", "instanceView"):
                p.pop(field_, None)
            for c in p.get("containers", []):
                c.get("properties", {}).pop("instanceView", None)
            for field_ in ("ip", "fqdn", "hostPort"):
                (p.get("ipAddress") or {}).pop(field_, None)
            for field_ in ("id", "name", "type"):
                copy.pop(field_, None)
            for value in ((copy.get("identity") or {}).get("userAssignedIdentities") or {}).values():
                value.pop("principalId", None)
                value.pop("clientId", None)
            (copy.get("identity") or {}).pop("tenantId", None)
            return copy
        with self.lock:
            running = key in self.containers and existing["properties"].get("provisioningState") == "Succeeded"
        return running and view(existing) == view(body)

    def _public(self, resource: dict[str, Any]) -> dict[str, Any]:
        """What ARM returns: secure values and registry passwords are never echoed."""
        with self.lock:
            copy = json.loads(json.dumps(resource))
        props = copy.get("properties", {})
        for c in props.get("containers", []):
            for env in c.get("properties", {}).get("environmentVariables") or []:
                env.pop("secureValue", None)
        for cred in props.get("imageRegistryCredentials") or []:
            cred.pop("password", None)
        if props.get("ipAddress"):
            props["ipAddress"].pop("hostPort", None)
        return copy

    def _event(self, container: dict[str, Any], name: str, message: str, kind: str = "Normal") -> None:
        with self.lock:
            container["properties"]["instanceView"]["events"].append(
                {"count": 1, "firstTimestamp": _now(), "lastTimestamp": _now(), "name": name, "message": message, "type": kind})

    def _provision(self, key: tuple[str, str], resource: dict[str, Any], op: Operation) -> None:
        started = time.monotonic()
        props = resource["properties"]
        container = props["containers"][0]
        cprops = container["properties"]
        image = cprops["image"]
        failure: Optional[tuple[str, str]] = None
        self._remove_container(key)
        self._event(container, "Pulling", f'pulling image "{image}"')
        try:
            self._pull(image, props.get("imageRegistryCredentials") or [])
            self._event(container, "Pulled", f'Successfully pulled image "{image}"')
            self._run(key, resource)
            self._event(container, "Started", "Started container")
        except Exception as exc:  # any engine error is a provisioning failure, as on ACI
            detail = str(getattr(exc, "explanation", "") or exc).splitlines()[0][:300]
            self._event(container, "Failed", f'Failed to pull image "{image}": {detail}', "Warning")
            failure = ("InaccessibleImage",
                       f"The image '{image}' in container group '{resource['name']}' is not accessible. "
                       "Please check the image and registry credential.")
        remaining = self.provision_delay - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        with self.lock:
            if failure:
                props["provisioningState"] = "Failed"
                props["instanceView"]["state"] = "Pending"
                cprops["instanceView"]["currentState"] = {"state": "Waiting", "detailStatus": "ErrImagePull"}
                op.error = {"code": failure[0], "message": failure[1]}
                op.status = "Failed"
            else:
                props["provisioningState"] = "Succeeded"
                props["instanceView"]["state"] = "Running"
                cprops["instanceView"]["currentState"] = {"state": "Running", "startTime": _now(), "detailStatus": ""}
                op.status = "Succeeded"

    def _pull(self, image: str, credentials: list[dict[str, Any]]) -> None:
        if self.docker is None:
            raise RuntimeError("no Docker engine")
        host = image.split("/", 1)[0] if "/" in image and ("." in image.split("/", 1)[0] or ":" in image.split("/", 1)[0]) else ""
        auth = None
        for cred in credentials:
            if cred.get("server") == host:
                if cred.get("identity"):  # a user-assigned identity: pulls only if it holds AcrPull
                    if cred["identity"].lower() not in {i.lower() for i in self.acr_pull_identities}:
                        raise RuntimeError(f"identity {cred['identity']} is not authorized to pull from {host}")
                    auth = {"username": self.registry_admin[0], "password": self.registry_admin[1]}
                else:
                    auth = {"username": cred.get("username"), "password": cred.get("password")}
        if "@" in image:
            repository, tag = image.split("@", 1)
        else:
            repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        if not host:
            self.docker.images.get(image)  # no Docker Hub here: unqualified images must be local
            return
        for chunk in self.docker.api.pull(repository, tag=tag, auth_config=auth, stream=True, decode=True):
            if "error" in chunk:
                raise RuntimeError(chunk["error"])

    def _run(self, key: tuple[str, str], resource: dict[str, Any]) -> None:
        props = resource["properties"]
        cprops = props["containers"][0]["properties"]
        env = {e["name"]: e.get("value") if e.get("value") is not None else e.get("secureValue", "")
               for e in cprops.get("environmentVariables") or []}
        host_port = props.get("ipAddress", {}).get("hostPort")
        ports = {f"{p['port']}/tcp": ("127.0.0.1", host_port) for p in cprops.get("ports") or []} if host_port else {}
        container = self.docker.containers.run(
            cprops["image"], detach=True, environment=env, ports=ports,
            labels={CONTAINER_LABEL: "1"}, name=f"aci-standin-{key[0]}-{key[1]}-{uuid.uuid4().hex[:6]}",
        )
        with self.lock:
            self.containers[key] = container

    def _remove_container(self, key: tuple[str, str]) -> None:
        with self.lock:
            container = self.containers.pop(key, None)
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:
                pass

    def _logs(self, key: tuple[str, str], tail: Optional[int]) -> str:
        with self.lock:
            container = self.containers.get(key)
        if container is None:
            return ""
        raw = container.logs(stdout=True, stderr=True, tail=tail if tail else "all")
        return raw.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    owner: ArmStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        body: Any = None
        if raw:
            if "application/x-www-form-urlencoded" in content_type:
                body = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Recorded(method, parts.path, query, headers, body)
        with self.owner.lock:
            self.owner.requests.append(record)
        try:
            status, extra, payload = self.owner.handle(method, parts.path, query, headers, body)
        except ArmFault as fault:
            error: dict[str, Any] = {"code": fault.code, "message": fault.message}
            if fault.details:
                error["details"] = fault.details
            status, extra, payload = fault.status, fault.headers, {"error": error}
        except Exception as exc:  # a stand-in bug: answer like ARM would, keep serving
            status, extra, payload = 500, {}, {"error": {"code": "InternalServerError", "message": repr(exc)}}
        record.status = status
        data = payload.encode() if isinstance(payload, str) and extra.get("Content-Type", "").startswith("text/") else (
            b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("x-ms-request-id", uuid.uuid4().hex)
        if data and "Content-Type" not in extra:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")
