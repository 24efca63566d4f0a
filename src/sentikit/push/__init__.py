"""Push an image to Azure Container Registry (created if asked) or to any registry.

* :mod:`sentikit.imageref` (re-exported here): the one image-reference grammar, below every stage.
* :mod:`.acr`: the registry through ARM, and logging in to it (token exchange over httpx, or admin user).
* :mod:`.registry`: tag, log in and push with the Docker engine; :class:`PushResult`.
"""

from __future__ import annotations

from .acr import (
    ACR_TOKEN_USERNAME,
    AUTH_MODES,
    RegistryInfo,
    acr_login,
    admin_login,
    ensure_registry,
    exchange_aad_token,
    find_registry,
    push_to_acr,
    registry_login_for,
    token_login,
    validate_registry_name,
)
from ..imageref import ImageRef, is_acr_host, normalize_registry_url, parse_reference, validate_tag
from .registry import (
    PushResult,
    RegistryLogin,
    auth_description,
    password_login,
    push_image,
    push_to_registry,
    target_reference,
)

__all__ = [
    "ACR_TOKEN_USERNAME", "AUTH_MODES", "ImageRef", "PushResult", "RegistryInfo", "RegistryLogin", "acr_login",
    "admin_login", "auth_description", "ensure_registry", "exchange_aad_token", "find_registry", "is_acr_host",
    "normalize_registry_url", "parse_reference", "password_login", "push_image", "push_to_acr", "push_to_registry", "registry_login_for",
    "target_reference", "token_login", "validate_registry_name", "validate_tag",
]
