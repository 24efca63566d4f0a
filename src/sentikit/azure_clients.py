"""Azure credentials, management clients and error translation: the only door to the Azure SDKs.

Everything that talks to Azure Resource Manager goes through an :class:`AzureContext`, built
once per command by :func:`azure_context`. Tests pass their own ``credential=`` and point
``arm_endpoint`` at a local stand-in; production gets ``DefaultAzureCredential``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from .errors import ArmError as ArmError, ArmNotFoundError as ArmNotFoundError  # defined in errors; importable here too
from .errors import AzureAuthError, AzureError, InvalidInputError

if TYPE_CHECKING:  # the SDKs load only when a command needs them
    from azure.core.credentials import TokenCredential
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_AUTHORITY = "login.microsoftonline.com"
# Authorities MSAL knows; any other (Azure Stack, a test stand-in) skips instance discovery,
# which would otherwise ask login.microsoftonline.com about the unknown host.
KNOWN_AUTHORITIES = frozenset(
    {"login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us", "login.microsoftonline.de"}
)
_SUBSCRIPTION_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

LOGIN_HELP = (
    "no usable Azure credential: run `az login` (and `az account set --subscription ID`), or set "
    "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal, "
    "plus AZURE_SUBSCRIPTION_ID (or --subscription)"
)


@dataclass(frozen=True)
class AzureContext:
    """A subscription, the ARM endpoint to reach it, and the credential to use."""

    subscription_id: str
    arm_endpoint: str
    authority: str
    credential: "TokenCredential" = field(repr=False)
    # Extra keyword arguments for every SDK client (e.g. ``connection_verify``).
    client_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def scope(self) -> str:
        """The OAuth scope of this ARM endpoint (``https://management.azure.com/.default``)."""
        return arm_scope(self.arm_endpoint)


def normalize_arm_endpoint(endpoint: str) -> str:
    """``https://host[:port]`` without a trailing slash; anything else is a user error."""
    endpoint = (endpoint or DEFAULT_ARM_ENDPOINT).strip().rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInputError(f"invalid ARM endpoint '{endpoint}': expected https://HOST, e.g. {DEFAULT_ARM_ENDPOINT}")
    return endpoint


def normalize_authority(authority: str) -> str:
    """The authority host (``login.microsoftonline.com``), with or without ``https://``."""
    authority = (authority or DEFAULT_AUTHORITY).strip().rstrip("/")
    if authority.startswith("http://"):
        raise InvalidInputError(f"invalid authority '{authority}': Azure AD authorities use https")
    host = authority.removeprefix("https://")
    if not host or "/" in host:
        raise InvalidInputError(f"invalid authority '{authority}': expected a host such as {DEFAULT_AUTHORITY}")
    return host


def arm_scope(endpoint: str) -> str:
    """The ``.default`` scope for an ARM endpoint."""
    return normalize_arm_endpoint(endpoint) + "/.default"


def validate_subscription(subscription: str) -> str:
    """A subscription id must be given and be a GUID."""
    subscription = (subscription or "").strip()
    if not subscription:
        raise AzureAuthError(
            "no Azure subscription: pass --subscription, set azure.subscription in sentikit.toml, "
            "or set AZURE_SUBSCRIPTION_ID"
        )
    if not _SUBSCRIPTION_RE.match(subscription):
        raise InvalidInputError(f"invalid subscription id '{subscription}': expected a GUID")
    return subscription


def default_credential(authority: str = DEFAULT_AUTHORITY) -> "TokenCredential":
    """``DefaultAzureCredential``: environment service principal, workload/managed identity, Azure CLI, ...

    The interactive browser stays excluded: a CLI running in CI must never open a browser.
    """
    from azure.identity import DefaultAzureCredential

    host = normalize_authority(authority)
    kwargs: dict[str, Any] = {"authority": host, "exclude_interactive_browser_credential": True}
    if host not in KNOWN_AUTHORITIES:
        kwargs["disable_instance_discovery"] = True
    return DefaultAzureCredential(**kwargs)


def azure_context(
    *,
    subscription: str,
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT,
    authority: str = DEFAULT_AUTHORITY,
    credential: "TokenCredential | None" = None,
    **client_kwargs: Any,
) -> AzureContext:
    """Validate the settings and build the context; ``credential`` defaults to :func:`default_credential`."""
    endpoint = normalize_arm_endpoint(arm_endpoint)
    host = normalize_authority(authority)
    subscription_id = validate_subscription(subscription)
    return AzureContext(
        subscription_id=subscription_id,
        arm_endpoint=endpoint,
        authority=host,
        credential=credential if credential is not None else default_credential(host),
        client_kwargs=dict(client_kwargs),
    )


def _sdk_kwargs(ctx: AzureContext) -> dict[str, Any]:
    return {"base_url": ctx.arm_endpoint, "credential_scopes": [ctx.scope], **ctx.client_kwargs}


def container_instance_client(ctx: AzureContext) -> "ContainerInstanceManagementClient":
    """The Container Instances management client for this context."""
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    return ContainerInstanceManagementClient(ctx.credential, ctx.subscription_id, **_sdk_kwargs(ctx))


def container_registry_client(ctx: AzureContext) -> "ContainerRegistryManagementClient":
    """The Container Registry management client for this context."""
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

    return ContainerRegistryManagementClient(ctx.credential, ctx.subscription_id, **_sdk_kwargs(ctx))


def get_access_token(ctx: AzureContext, scope: str | None = None) -> str:
    """An Azure AD access token for ``scope`` (default: the ARM scope), errors translated."""
    with translate_errors("getting an Azure AD token"):
        return ctx.credential.get_token(scope or ctx.scope).token


def tenant_of(token: str) -> str | None:
    """The ``tid`` claim of a JWT access token, if it has one (no signature check: we only route with it)."""
    import base64
    import json

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        tid = claims.get("tid")
        return str(tid) if tid else None
    except (IndexError, ValueError, AttributeError):
        return None


def _arm_error(exc: Any) -> tuple[str, str]:
    """(code, message) of an ARM error response, from the parsed body when the SDK has one."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
            inner = body.get("error", body) if isinstance(body, dict) else {}
            code = str(inner.get("code") or "")
            message = str(inner.get("message") or "")
        except Exception:  # an HTML error page or no body at all
            pass
    status = getattr(exc, "status_code", None)
    if not code:
        code = f"HTTP {status}" if status else type(exc).__name__
    if not message:
        message = str(getattr(exc, "reason", "") or exc).splitlines()[0]
    return code, message


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn ``azure.core`` exceptions raised inside the block into sentikit errors.

    ``action`` completes "... failed while <action>" so the user knows which call went wrong.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ResourceNotFoundError as exc:
        code, message = _arm_error(exc)
        raise ArmNotFoundError(f"{action}: {code}: {message}", code=code) from None
    except ClientAuthenticationError as exc:
        if getattr(exc, "response", None) is not None and getattr(exc, "status_code", None):
            # ARM answered 401/403: the credential works but lacks access (or the token was refused).
            code, message = _arm_error(exc)
            raise ArmError(f"{action}: {code}: {message}", code=code) from None
        detail = _credential_detail(str(exc))
        raise AzureAuthError(LOGIN_HELP + (f" ({detail})" if detail else "")) from None
    except HttpResponseError as exc:
        code, message = _arm_error(exc)
        raise ArmError(f"{action}: {code}: {message}", code=code) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise AzureError(f"{action}: cannot reach Azure: {str(exc).splitlines()[0]}") from None


def _credential_detail(text: str) -> str:
    """A short reason from a credential failure, unless it is just 'nothing configured'."""
    if "failed to retrieve a token from the included credentials" in text or "Unavailable" in text:
        # Every credential in the chain was unavailable: the one-line LOGIN_HELP says it all,
        # unless one of them actually refused (wrong secret, wrong tenant).
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("EnvironmentCredential:", "ClientSecretCredential:")) and "AADSTS" in line:
                return line[:200]
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:200]


def context_from_settings(settings: Any, *, credential: "TokenCredential | None" = None) -> AzureContext:
    """An :class:`AzureContext` from resolved :class:`~sentikit.config.Settings` (subscription, endpoint, authority)."""
    return azure_context(
        subscription=settings.azure_subscription,
        arm_endpoint=settings.azure_arm_endpoint,
        authority=settings.azure_authority,
        credential=credential,
    )
