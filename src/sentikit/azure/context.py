"""Which subscription, which ARM endpoint and authority, and which TLS trust: an :class:`AzureContext`.

Everything that talks to Azure Resource Manager goes through an :class:`AzureContext`, built
once per command by :func:`azure_context`. Tests pass their own ``credential=`` and point
``arm_endpoint`` at a local stand-in; production gets ``DefaultAzureCredential``.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import AzureAuthError, InvalidInputError
from .credentials import DEFAULT_AUTHORITY, default_credential, normalize_authority

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
# The CA bundle variables the Azure SDK's transport (requests) honours; every other HTTPS call
# sentikit makes (registry challenge, token exchange) must trust the same CAs.
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_PROVIDER_TIMEOUT = 300.0
CA_BUNDLE_ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
_SUBSCRIPTION_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

@dataclass(frozen=True)
class AzureContext:
    """A subscription, the ARM endpoint to reach it, and the credential to use."""

    subscription_id: str
    arm_endpoint: str
    authority: str
    credential: "TokenCredential" = field(repr=False)
    # Extra keyword arguments for every SDK client (e.g. ``connection_verify``).
    client_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    # Seconds between polls of a long-running operation that sends no Retry-After (the SDK's default is 30).
    poll_interval: float = DEFAULT_POLL_INTERVAL
    # How long to wait for a resource provider to register on a new subscription.
    provider_timeout: float = DEFAULT_PROVIDER_TIMEOUT

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


def azure_context(
    *,
    subscription: str,
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT,
    authority: str = DEFAULT_AUTHORITY,
    credential: "TokenCredential | None" = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    provider_timeout: float = DEFAULT_PROVIDER_TIMEOUT,
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
        poll_interval=poll_interval,
        provider_timeout=provider_timeout,
    )



def tls_verify(ctx: AzureContext | None = None) -> str | bool:
    """The CA bundle every HTTPS call trusts: the context's ``connection_verify``, else the
    bundle named by ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``/``SSL_CERT_FILE``, else the system's."""
    given = ctx.client_kwargs.get("connection_verify") if ctx is not None else None
    if given is not None:
        return given if isinstance(given, (str, bool)) else str(given)
    for name in CA_BUNDLE_ENV_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return True


def tls_trust(ctx: AzureContext | None = None) -> ssl.SSLContext | bool:
    """:func:`tls_verify` as httpx takes it: a CA bundle becomes an SSL context trusting it."""
    verify = tls_verify(ctx)
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def context_from_settings(settings: Any, *, credential: "TokenCredential | None" = None) -> AzureContext:
    """An :class:`AzureContext` from resolved :class:`~sentikit.config.Settings` (subscription, endpoint, authority)."""
    return azure_context(
        subscription=settings.azure_subscription,
        arm_endpoint=settings.azure_arm_endpoint,
        authority=settings.azure_authority,
        credential=credential,
        poll_interval=settings.azure_poll_interval,
    )
