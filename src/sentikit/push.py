"""Push an image to Azure Container Registry (created if asked) or to any registry.

``push_to_acr`` gets or creates the registry through ARM, logs in to it (an Azure AD token
exchanged for a registry refresh token, or the admin user), and pushes with the Docker SDK.
``push_to_registry`` does the same for any registry given a URL, a user and a password.
Docker and Azure SDK errors stop here and leave as sentikit errors.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from .azure_clients import (
    ArmNotFoundError,
    AzureContext,
    container_registry_client,
    get_access_token,
    tenant_of,
    translate_errors,
)
from .errors import (
    AzureError,
    DockerUnavailableError,
    InvalidInputError,
    RegistryAuthError,
    RegistryError,
)

if TYPE_CHECKING:
    import docker

# ACR's rule (Azure docs, "naming rules"): 5-50 alphanumerics; the login server is lowercase.
REGISTRY_NAME_RE = re.compile(r"^[a-z0-9]{5,50}$")
# The distribution spec's grammar for repository path components and tags.
REPOSITORY_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The user name ACR expects with a refresh token obtained by token exchange.
ACR_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
AUTH_MODES = ("auto", "token", "admin")

ProgressCallback = Callable[[str, Optional[float]], None]  # (message, fraction or None)


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for one registry; ``method`` says where they came from."""

    server: str
    username: str
    password: str = field(repr=False)
    method: str  # "aad-token-exchange", "admin-credentials" or "password"


@dataclass
class RegistryInfo:
    """An Azure Container Registry as ARM describes it."""

    name: str
    login_server: str
    admin_user_enabled: bool
    sku: str
    location: str
    created: bool = False


@dataclass
class PushResult:
    """What was pushed, where, and how we authenticated."""

    reference: str  # registry/repository:tag
    digest: str  # sha256:...
    registry: str  # login server
    repository: str
    tag: str
    auth_method: str
    registry_created: bool = False


def validate_registry_name(name: str) -> str:
    """ACR names: 5-50 lowercase letters and digits (checked before any Azure call)."""
    if not REGISTRY_NAME_RE.match(name or ""):
        raise InvalidInputError(
            f"invalid registry name '{name}': Azure Container Registry names are 5-50 lowercase letters and digits"
        )
    return name


def split_image(image: str) -> tuple[str, str]:
    """``name[:tag]`` → (name, tag); the tag defaults to ``latest``. Digests are refused."""
    if "@" in image:
        raise InvalidInputError(f"cannot push '{image}': give a tag, not a digest")
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, "latest"


def target_reference(image: str, server: str, repository: str | None, tag: str | None) -> tuple[str, str]:
    """The repository and tag to push ``image`` as, validated. Default: the image's own last path part and tag."""
    name, own_tag = split_image(image)
    repo = repository or name.rsplit("/", 1)[-1]
    tag = tag or own_tag
    if not REPOSITORY_RE.match(repo):
        raise InvalidInputError(f"invalid repository '{repo}': lowercase letters, digits and . _ - / separators")
    if not TAG_RE.match(tag):
        raise InvalidInputError(f"invalid tag '{tag}': up to 128 letters, digits, _ . -, not starting with . or -")
    return repo, tag


def normalize_registry_url(url: str) -> str:
    """``https://host:port/`` or ``host:port`` → ``host:port`` (the form Docker uses)."""
    text = (url or "").strip()
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise InvalidInputError(f"invalid registry URL '{url}': expected HOST[:PORT] or https://HOST[:PORT]")
        text = parts.netloc
    text = text.rstrip("/")
    if not re.match(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$", text):
        raise InvalidInputError(f"invalid registry URL '{url}': expected HOST[:PORT] or https://HOST[:PORT]")
    return text.lower()


# --- Azure Container Registry --------------------------------------------------------------
def _registry_info(registry: Any, created: bool = False) -> RegistryInfo:
    return RegistryInfo(
        name=registry.name,
        login_server=registry.login_server,
        admin_user_enabled=bool(registry.admin_user_enabled),
        sku=getattr(registry.sku, "name", "") or "",
        location=registry.location or "",
        created=created,
    )


def ensure_registry(
    ctx: AzureContext,
    *,
    resource_group: str,
    name: str,
    create: bool = False,
    sku: str = "Basic",
    location: str = "westeurope",
    admin_enabled: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RegistryInfo:
    """Get the registry, or create it (waiting on the long-running operation) when ``create``."""
    validate_registry_name(name)
    if sku not in ("Basic", "Standard", "Premium"):
        raise InvalidInputError(f"invalid SKU '{sku}': choose Basic, Standard or Premium")
    from azure.mgmt.containerregistry.models import Registry, Sku

    client = container_registry_client(ctx)
    try:
        with translate_errors(f"reading registry '{name}'"):
            return _registry_info(client.registries.get(resource_group, name))
    except ArmNotFoundError as exc:
        if exc.code == "ResourceGroupNotFound" or not create:
            hint = "" if exc.code == "ResourceGroupNotFound" else " (pass --create to create it)"
            raise ArmNotFoundError(f"{exc}{hint}", code=exc.code) from None
    if on_progress:
        on_progress(f"creating registry {name} ({sku}, {location})", None)
    with translate_errors(f"creating registry '{name}'"):
        poller = client.registries.begin_create(
            resource_group, name, Registry(location=location, sku=Sku(name=sku), admin_user_enabled=admin_enabled)  # type: ignore[call-overload]  # flattened property, accepted at run time
        )
        registry = poller.result()
    return _registry_info(registry, created=True)


def admin_login(ctx: AzureContext, resource_group: str, registry: RegistryInfo) -> RegistryLogin:
    """The registry's admin user (only when the admin user is enabled)."""
    if not registry.admin_user_enabled:
        raise RegistryAuthError(
            f"the admin user of registry '{registry.name}' is disabled: use Azure AD (--auth token), "
            f"or enable it with `az acr update -n {registry.name} --admin-enabled true`"
        )
    client = container_registry_client(ctx)
    with translate_errors(f"listing the credentials of registry '{registry.name}'"):
        creds = client.registries.list_credentials(resource_group, registry.name)
    passwords = [p.value for p in (creds.passwords or []) if p.value]
    if not creds.username or not passwords:
        raise RegistryAuthError(f"registry '{registry.name}' returned no admin credentials")
    return RegistryLogin(registry.login_server, creds.username, passwords[0], "admin-credentials")


def _challenge(login_server: str, *, context: ssl.SSLContext | None, timeout: float) -> dict[str, str]:
    """The parameters of the registry's ``WWW-Authenticate: Bearer`` challenge on ``GET /v2/``."""
    request = urllib.request.Request(f"https://{login_server}/v2/", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context):
            return {}  # an open registry: no challenge
    except urllib.error.HTTPError as exc:
        header = exc.headers.get("WWW-Authenticate", "") if exc.code == 401 else ""
    except (urllib.error.URLError, OSError) as exc:
        raise RegistryAuthError(f"cannot reach registry {login_server} over HTTPS: {getattr(exc, 'reason', exc)}") from None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "bearer":
        raise RegistryAuthError(f"registry {login_server} does not offer Azure AD token exchange")
    return {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}


def exchange_aad_token(
    login_server: str,
    aad_token: str,
    *,
    tenant: str | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> str:
    """Exchange an Azure AD access token for an ACR refresh token (``POST /oauth2/exchange``).

    Like ``az acr login``: the realm of the registry's Bearer challenge names the auth host.
    """
    params = _challenge(login_server, context=context, timeout=timeout)
    realm = urllib.parse.urlsplit(params.get("realm") or f"https://{login_server}/oauth2/token")
    if realm.scheme != "https":
        raise RegistryAuthError(f"registry {login_server} advertises a non-HTTPS token realm; refusing to send a token")
    form = {"grant_type": "access_token", "service": params.get("service") or login_server, "access_token": aad_token}
    if tenant:
        form["tenant"] = tenant
    request = urllib.request.Request(
        f"https://{realm.netloc}/oauth2/exchange",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise RegistryAuthError(
            f"registry {login_server} refused the Azure AD token (HTTP {exc.code}): check that the identity "
            "has the AcrPush role on the registry"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RegistryAuthError(f"token exchange with {login_server} failed: {getattr(exc, 'reason', exc)}") from None
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if not token:
        raise RegistryAuthError(f"registry {login_server} returned no refresh token")
    return str(token)


def token_login(ctx: AzureContext, registry: RegistryInfo, *, context: ssl.SSLContext | None = None) -> RegistryLogin:
    """Log in with the Azure identity itself: AAD token → ACR refresh token."""
    aad_token = get_access_token(ctx)
    refresh = exchange_aad_token(registry.login_server, aad_token, tenant=tenant_of(aad_token), context=context)
    return RegistryLogin(registry.login_server, ACR_TOKEN_USERNAME, refresh, "aad-token-exchange")


def acr_login(
    ctx: AzureContext,
    resource_group: str,
    registry: RegistryInfo,
    *,
    auth: str = "auto",
    context: ssl.SSLContext | None = None,
    on_progress: ProgressCallback | None = None,
) -> RegistryLogin:
    """Credentials for ``registry``: token exchange, admin user, or (``auto``) the first that works."""
    if auth not in AUTH_MODES:
        raise InvalidInputError(f"invalid --auth '{auth}': choose one of {', '.join(AUTH_MODES)}")
    if auth == "admin":
        return admin_login(ctx, resource_group, registry)
    try:
        return token_login(ctx, registry, context=context)
    except RegistryAuthError as exc:
        if auth == "token" or not registry.admin_user_enabled:
            raise
        if on_progress:
            on_progress(f"token exchange unavailable ({exc}); using the admin user", None)
        return admin_login(ctx, resource_group, registry)


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
    docker_client: "docker.DockerClient | None" = None,
    tls_context: ssl.SSLContext | None = None,
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Ensure the registry exists, log in to it, and push ``image`` as ``<loginServer>/<repo>:<tag>``."""
    validate_registry_name(registry)
    if auth not in AUTH_MODES:
        raise InvalidInputError(f"invalid --auth '{auth}': choose one of {', '.join(AUTH_MODES)}")
    if not resource_group:
        raise InvalidInputError("a resource group is needed: pass --resource-group or set azure.resource_group in sentikit.toml")
    target_reference(image, "", repository, tag)  # validate before any call
    client = docker_client or docker_from_env()
    _local_image(client, image)
    info = ensure_registry(
        ctx, resource_group=resource_group, name=registry, create=create, sku=sku, location=location,
        on_progress=on_progress,
    )
    login = acr_login(ctx, resource_group, info, auth=auth, context=tls_context, on_progress=on_progress)
    result = push_image(image, login, repository=repository, tag=tag, docker_client=client, on_progress=on_progress)
    result.registry_created = info.created
    return result


def push_to_registry(
    image: str,
    *,
    registry_url: str,
    username: str,
    password: str,
    repository: str | None = None,
    tag: str | None = None,
    docker_client: "docker.DockerClient | None" = None,
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Push to any registry with a user name and password."""
    server = normalize_registry_url(registry_url)
    if not username:
        raise InvalidInputError("--username is required with --registry-url")
    if not password:
        raise InvalidInputError("no password: pipe it to --password-stdin or name a variable with --password-env")
    login = RegistryLogin(server, username, password, "password")
    return push_image(image, login, repository=repository, tag=tag, docker_client=docker_client, on_progress=on_progress)


# --- Docker ---------------------------------------------------------------------------------
def docker_from_env() -> "docker.DockerClient":
    """A Docker client that answers, or :class:`DockerUnavailableError`."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine ({str(exc).splitlines()[0][:160]}): start Docker or set DOCKER_HOST"
        ) from None
    return client


def _local_image(client: "docker.DockerClient", image: str) -> Any:
    from docker.errors import APIError, ImageNotFound

    try:
        return client.images.get(image)
    except ImageNotFound:
        raise InvalidInputError(f"no local image '{image}': build it first (sentikit build --tag {image})") from None
    except APIError as exc:
        raise RegistryError(f"Docker engine error reading '{image}': {exc.explanation or exc}") from None


def push_image(
    image: str,
    login: RegistryLogin,
    *,
    repository: str | None = None,
    tag: str | None = None,
    docker_client: "docker.DockerClient | None" = None,
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Log in, tag ``image`` as ``server/repository:tag``, push it, and return the digest."""
    from docker.errors import APIError

    repo, tag = target_reference(image, login.server, repository, tag)
    client = docker_client or docker_from_env()
    local = _local_image(client, image)
    target = f"{login.server}/{repo}"
    try:
        # The daemon checks the credentials here: a refusal raises instead of arriving in the stream.
        client.login(username=login.username, password=login.password, registry=login.server, reauth=True)
    except APIError as exc:
        raise RegistryAuthError(
            f"registry {login.server} refused the login ({_auth_label(login.method)}): "
            f"{_scrub(str(exc.explanation or exc), login.password)}"
        ) from None
    try:
        local.tag(target, tag=tag)
    except APIError as exc:
        raise RegistryError(f"cannot tag {image} as {target}:{tag}: {exc.explanation or exc}") from None
    auth_config = {"username": login.username, "password": login.password}
    digest = ""
    layers: dict[str, tuple[int, int]] = {}
    try:
        stream = client.images.push(target, tag=tag, stream=True, decode=True, auth_config=auth_config)
        for chunk in stream:
            # Push errors arrive in the stream; nothing is raised.
            if "error" in chunk:
                message = _scrub(str(chunk.get("error")), login.password)
                cls = RegistryAuthError if "auth" in message.lower() or "denied" in message.lower() else RegistryError
                raise cls(f"push of {target}:{tag} failed: {message}")
            aux = chunk.get("aux") or {}
            if aux.get("Digest"):
                digest = str(aux["Digest"])
            if on_progress and chunk.get("id") and chunk.get("status"):
                detail = chunk.get("progressDetail") or {}
                if detail.get("total"):
                    layers[chunk["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
                elif chunk["status"] in ("Pushed", "Layer already exists") and chunk["id"] in layers:
                    layers[chunk["id"]] = (layers[chunk["id"]][1], layers[chunk["id"]][1])
                done = sum(c for c, _ in layers.values())
                total = sum(t for _, t in layers.values())
                on_progress(f"pushing {target}:{tag}", done / total if total else None)
    except APIError as exc:
        raise RegistryError(f"push of {target}:{tag} failed: {_scrub(str(exc.explanation or exc), login.password)}") from None
    if not digest:
        raise RegistryError(f"push of {target}:{tag} finished without a digest")
    return PushResult(
        reference=f"{target}:{tag}", digest=digest, registry=login.server, repository=repo, tag=tag,
        auth_method=login.method,
    )


def _auth_label(method: str) -> str:
    return {
        "aad-token-exchange": "Azure AD token exchange",
        "admin-credentials": "admin credentials",
        "password": "user name and password",
    }.get(method, method)


def _scrub(text: str, secret: str) -> str:
    """Never echo a secret back, even if an engine message quotes it."""
    return text.replace(secret, "***") if secret else text


def auth_description(method: str) -> str:
    """A human label for :attr:`PushResult.auth_method`."""
    return _auth_label(method)


__all__ = [
    "ACR_TOKEN_USERNAME",
    "AzureError",
    "PushResult",
    "RegistryInfo",
    "RegistryLogin",
    "acr_login",
    "admin_login",
    "auth_description",
    "docker_from_env",
    "ensure_registry",
    "exchange_aad_token",
    "push_image",
    "push_to_acr",
    "push_to_registry",
    "validate_registry_name",
]
