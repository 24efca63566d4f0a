"""The only door to the Azure SDKs: context (subscription, endpoint, trust), credentials, clients, errors."""

from __future__ import annotations

from ..errors import ArmError, ArmNotFoundError
from .clients import container_instance_client, container_registry_client, get_access_token
from .context import (
    DEFAULT_ARM_ENDPOINT,
    AzureContext,
    arm_scope,
    azure_context,
    context_from_settings,
    normalize_arm_endpoint,
    tls_trust,
    tls_verify,
    validate_subscription,
)
from .credentials import DEFAULT_AUTHORITY, KNOWN_AUTHORITIES, LOGIN_HELP, default_credential, normalize_authority, tenant_of
from .errors import translate_errors

__all__ = [
    "DEFAULT_ARM_ENDPOINT", "DEFAULT_AUTHORITY", "KNOWN_AUTHORITIES", "LOGIN_HELP", "ArmError", "ArmNotFoundError",
    "AzureContext", "arm_scope", "azure_context", "container_instance_client", "container_registry_client",
    "context_from_settings", "default_credential", "get_access_token", "normalize_arm_endpoint",
    "normalize_authority", "tenant_of", "tls_trust", "tls_verify", "translate_errors", "validate_subscription",
]
