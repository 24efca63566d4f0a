"""Azure Container Registry: find or create the registry through ARM, and log in to it.

Logins: the Azure identity itself (an Azure AD token exchanged for a registry refresh token at
``/oauth2/exchange``, as ``az acr login`` does; Azure/acr docs/AAD-OAuth.md), or the admin user.
The registry calls go over httpx and trust the same CA bundle as the ARM calls.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Optional

import httpx

from ..azure import (
    ArmError,
    ArmNotFoundError,
    AzureContext,
    container_registry_client,
    get_access_token,
    tenant_of,
    tls_verify,
    translate_errors,
)
from ..azure.clients import resource_group_location
from ..errors import AzureAuthError, InvalidInputError, RegistryAuthError
from ..docker_engine import docker_client, local_image
from .registry import PushResult, RegistryLogin, push_image, target_reference

# ACR's rule (Azure docs, "naming rules"): 5-50 alphanumerics; the login server is lowercase.
REGISTRY_NAME_RE = re.compile(r"^[a-z0-9]{5,50}$")
# The user name ACR expects with a refresh token obtained by token exchange.
ACR_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
# Azure AD audience of registry tokens; registries with "ARM audience token authentication" disabled
# (an Azure Policy many organisations assign) accept only this one.
ACR_SCOPE = "https://containerregistry.azure.net/.default"
# Bounded retries of the registry's HTTP calls when it throttles (429) or is briefly unavailable.
RETRY_STATUSES = frozenset({429, 503})
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 30.0
# POST listCredentials is safe to repeat, but the SDK retries only idempotent verbs by default.
RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})
AUTH_MODES = ("auto", "token", "admin")
SKUS = ("Basic", "Standard", "Premium")
HTTP_TIMEOUT = 30.0

ProgressCallback = Callable[[str, Optional[float]], None]


@dataclass
class RegistryInfo:
    """An Azure Container Registry as ARM describes it."""

    name: str
    login_server: str
    admin_user_enabled: bool
    sku: str
    location: str
    created: bool = False
    resource_group: str = ""


def validate_registry_name(name: str) -> str:
    """ACR names: 5-50 lowercase letters and digits (checked before any Azure call)."""
    if not REGISTRY_NAME_RE.match(name or ""):
        raise InvalidInputError(
            f"invalid registry name '{name}': Azure Container Registry names are 5-50 lowercase letters and digits"
        )
    return name


def _registry_info(registry: Any, resource_group: str, created: bool = False) -> RegistryInfo:
    return RegistryInfo(
        name=registry.name,
        login_server=registry.login_server,
        admin_user_enabled=bool(registry.admin_user_enabled),
        sku=getattr(registry.sku, "name", "") or "",
        location=registry.location or "",
        created=created,
        resource_group=resource_group,
    )


def ensure_registry(
    ctx: AzureContext,
    *,
    resource_group: str,
    name: str,
    create: bool = False,
    sku: str = "Basic",
    location: str = "",
    admin_enabled: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RegistryInfo:
    """Get the registry, or create it (waiting on the long-running operation) when ``create``."""
    validate_registry_name(name)
    if sku not in SKUS:
        raise InvalidInputError(f"invalid SKU '{sku}': choose Basic, Standard or Premium")
    from azure.mgmt.containerregistry.models import Registry, RegistryNameCheckRequest, Sku

    client = container_registry_client(ctx)
    try:
        with translate_errors(f"reading registry '{name}'"):
            return _registry_info(client.registries.get(resource_group, name), resource_group)
    except ArmNotFoundError as exc:
        if exc.code == "ResourceGroupNotFound" or not create:
            hint = "" if exc.code == "ResourceGroupNotFound" else " (pass --create to create it)"
            raise ArmNotFoundError(f"{exc}{hint}", code=exc.code) from None
    location = location or resource_group_location(ctx, resource_group)
    with translate_errors(f"checking that the registry name '{name}' is free"):
        available = client.registries.check_name_availability(
            RegistryNameCheckRequest(name=name, type="Microsoft.ContainerRegistry/registries"))
    if not available.name_available:
        raise InvalidInputError(
            f"registry name '{name}' is taken ({available.reason or 'AlreadyExists'}): registry names are global "
            "across Azure (NAME.azurecr.io), so choose another --registry name")
    if on_progress:
        on_progress(f"creating registry {name} ({sku}, {location})", None)
    with translate_errors(f"creating registry '{name}'"):
        poller = client.registries.begin_create(
            resource_group, name, Registry(location=location, sku=Sku(name=sku), admin_user_enabled=admin_enabled)  # type: ignore[call-overload]  # flattened property, accepted at run time
        )
        registry = poller.result()
    return _registry_info(registry, resource_group, created=True)


def find_registry(ctx: AzureContext, name: str, *, resource_group: str | None = None, near: str = "") -> RegistryInfo:
    """The registry ``name`` in ``resource_group``, or (not given) wherever it is in the subscription.

    Registries usually live in a shared resource group, not the deployment's: the deployment's group
    (``near``) is tried first, then every registry the subscription lists.
    """
    validate_registry_name(name)
    if resource_group:
        return ensure_registry(ctx, resource_group=resource_group, name=name)
    client = container_registry_client(ctx)
    if near:
        try:
            with translate_errors(f"reading registry '{name}'"):
                return _registry_info(client.registries.get(near, name), near)
        except ArmNotFoundError as exc:
            if exc.code != "ResourceNotFound":
                raise
    with translate_errors("listing the subscription's registries"):
        for registry in client.registries.list():
            if (registry.name or "").lower() == name.lower():
                group = str(registry.id).split("/resourceGroups/", 1)[1].split("/", 1)[0]
                return _registry_info(registry, group)
    raise ArmNotFoundError(
        f"no registry '{name}' in subscription {ctx.subscription_id}: check the name, or name its resource group "
        "with --registry-resource-group", code="ResourceNotFound")


def admin_login(ctx: AzureContext, registry: RegistryInfo) -> RegistryLogin:
    """The registry's admin user (only when the admin user is enabled)."""
    if not registry.admin_user_enabled:
        raise RegistryAuthError(
            f"the admin user of registry '{registry.name}' is disabled: use Azure AD (--auth token), "
            f"or enable it with `az acr update -n {registry.name} --admin-enabled true`"
        )
    client = container_registry_client(ctx)
    try:
        with translate_errors(f"listing the credentials of registry '{registry.name}'"):
            creds = client.registries.list_credentials(registry.resource_group, registry.name,
                                                       retry_on_methods=RETRY_METHODS)
    except ArmError as exc:
        if exc.code == "UnAuthorizedForCredentialOperations":  # ARM's word for "the admin user is disabled"
            raise RegistryAuthError(
                f"the admin user of registry '{registry.name}' is disabled: use Azure AD (--auth token), "
                f"or enable it with `az acr update -n {registry.name} --admin-enabled true`") from None
        raise
    passwords = [p.value for p in (creds.passwords or []) if p.value]
    if not creds.username or not passwords:
        raise RegistryAuthError(f"registry '{registry.name}' returned no admin credentials")
    return RegistryLogin(registry.login_server, creds.username, passwords[0], "admin-credentials")


def retry_after(headers: Any, attempt: int) -> float:
    """Seconds to wait before retry ``attempt``: the server's ``Retry-After`` (bounded), else a short backoff."""
    try:
        given = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        given = 0.5 * 2 ** attempt
    return max(0.0, min(given, MAX_RETRY_AFTER))


def _send(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One registry call, retried on 429/503 with the server's Retry-After, at most MAX_ATTEMPTS times."""
    for attempt in range(MAX_ATTEMPTS):
        response = http.request(method, url, **kwargs)
        if response.status_code not in RETRY_STATUSES or attempt == MAX_ATTEMPTS - 1:
            return response
        time.sleep(retry_after(response.headers, attempt))
    return response


def _challenge(http: httpx.Client, login_server: str) -> dict[str, str]:
    """The parameters of the registry's ``WWW-Authenticate: Bearer`` challenge on ``GET /v2/``."""
    try:
        response = _send(http, "GET", f"https://{login_server}/v2/")
    except httpx.HTTPError as exc:
        raise RegistryAuthError(f"cannot reach registry {login_server} over HTTPS: {exc}") from None
    if response.status_code != 401:
        return {}  # an open registry: no challenge
    scheme, _, rest = response.headers.get("WWW-Authenticate", "").partition(" ")
    if scheme.lower() != "bearer":
        raise RegistryAuthError(f"registry {login_server} does not offer Azure AD token exchange")
    return {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}


def exchange_aad_token(
    login_server: str,
    aad_token: str,
    *,
    tenant: str | None = None,
    verify: str | bool = True,
    timeout: float = HTTP_TIMEOUT,
) -> str:
    """Exchange an Azure AD access token for an ACR refresh token (``POST /oauth2/exchange``).

    Like ``az acr login``: the realm of the registry's Bearer challenge names the auth host.
    """
    trust = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    with httpx.Client(verify=trust, timeout=timeout) as http:
        params = _challenge(http, login_server)
        realm = urllib.parse.urlsplit(params.get("realm") or f"https://{login_server}/oauth2/token")
        if realm.scheme != "https":
            raise RegistryAuthError(f"registry {login_server} advertises a non-HTTPS token realm; refusing to send a token")
        form = {"grant_type": "access_token", "service": params.get("service") or login_server, "access_token": aad_token}
        if tenant:
            form["tenant"] = tenant
        try:
            response = _send(http, "POST", f"https://{realm.netloc}/oauth2/exchange", data=form)
        except httpx.HTTPError as exc:
            raise RegistryAuthError(f"token exchange with {login_server} failed: {exc}") from None
    if response.status_code != 200:
        raise RegistryAuthError(
            f"registry {login_server} refused the Azure AD token (HTTP {response.status_code}"
            + (", still throttled after retries" if response.status_code in RETRY_STATUSES else "")
            + "): check that the identity has the AcrPush role on the registry"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if not token:
        raise RegistryAuthError(f"registry {login_server} returned no refresh token")
    return str(token)


def token_login(ctx: AzureContext, registry: RegistryInfo) -> RegistryLogin:
    """Log in with the Azure identity itself: AAD token → ACR refresh token.

    An ACR-audience token first (what registries with ARM-audience tokens disabled require), the
    ARM-audience token as the fallback (older registries and clouds without the ACR audience).
    """
    failure: Exception | None = None
    for scope in (ACR_SCOPE, ctx.scope):
        try:
            aad_token = get_access_token(ctx, scope)
            refresh = exchange_aad_token(registry.login_server, aad_token, tenant=tenant_of(aad_token),
                                         verify=tls_verify(ctx))
            return RegistryLogin(registry.login_server, ACR_TOKEN_USERNAME, refresh, "aad-token-exchange")
        except (RegistryAuthError, ArmError, AzureAuthError) as exc:
            failure = exc
    assert failure is not None
    raise failure


def acr_login(
    ctx: AzureContext,
    registry: RegistryInfo,
    *,
    auth: str = "auto",
    on_progress: ProgressCallback | None = None,
) -> RegistryLogin:
    """Credentials for ``registry``: token exchange, admin user, or (``auto``) the first that works."""
    if auth not in AUTH_MODES:
        raise InvalidInputError(f"invalid --auth '{auth}': choose one of {', '.join(AUTH_MODES)}")
    if auth == "admin":
        return admin_login(ctx, registry)
    try:
        return token_login(ctx, registry)
    except RegistryAuthError as exc:
        if auth == "token" or not registry.admin_user_enabled:
            raise
        if on_progress:
            on_progress(f"token exchange unavailable ({exc}); using the admin user", None)
        return admin_login(ctx, registry)


def push_to_acr(
    image: str,
    ctx: AzureContext,
    *,
    resource_group: str,
    registry: str,
    create: bool = False,
    sku: str = "Basic",
    location: str = "westeurope",
    repository: str | None = None,
    tag: str | None = None,
    auth: str = "auto",
    docker_client_: Any = None,
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Ensure the registry exists, log in to it, and push ``image`` as ``<loginServer>/<repo>:<tag>``."""
    validate_registry_name(registry)
    if auth not in AUTH_MODES:
        raise InvalidInputError(f"invalid --auth '{auth}': choose one of {', '.join(AUTH_MODES)}")
    if not resource_group:
        raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
    target_reference(image, repository, tag)  # validate before any call
    client = docker_client_ or docker_client()
    local_image(client, image, hint=f"build it first (sentikit build --tag {image})")
    info = ensure_registry(ctx, resource_group=resource_group, name=registry, create=create, sku=sku,
                           location=location, on_progress=on_progress)
    login = acr_login(ctx, info, auth=auth, on_progress=on_progress)
    result = push_image(image, login, repository=repository, tag=tag, docker_client_=client, on_progress=on_progress)
    result.registry_created = info.created
    return result


def registry_login_for(ctx: AzureContext, resource_group: str, registry: str) -> RegistryLogin:
    """Admin credentials of an ACR in this subscription, for a cloud service to pull a private image with."""
    return admin_login(ctx, ensure_registry(ctx, resource_group=resource_group, name=registry))
