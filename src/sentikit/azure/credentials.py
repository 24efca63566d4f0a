"""Azure AD credentials: ``DefaultAzureCredential`` for a CLI, and access tokens from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

DEFAULT_AUTHORITY = "login.microsoftonline.com"
# Authorities MSAL knows; any other (Azure Stack, a test stand-in) skips instance discovery,
# which would otherwise ask login.microsoftonline.com about the unknown host.
KNOWN_AUTHORITIES = frozenset(
    {"login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us", "login.microsoftonline.de"}
)
LOGIN_HELP = (
    "no usable Azure credential: run `az login` (and `az account set --subscription ID`), or set "
    "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal, "
    "plus AZURE_SUBSCRIPTION_ID (or --subscription)"
)


def normalize_authority(authority: str) -> str:
    """The authority host (``login.microsoftonline.com``), with or without ``https://``."""
    authority = (authority or DEFAULT_AUTHORITY).strip().rstrip("/")
    if authority.startswith("http://"):
        raise InvalidInputError(f"invalid authority '{authority}': Azure AD authorities use https")
    host = authority.removeprefix("https://")
    if not host or "/" in host:
        raise InvalidInputError(f"invalid authority '{authority}': expected a host such as {DEFAULT_AUTHORITY}")
    return host


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


