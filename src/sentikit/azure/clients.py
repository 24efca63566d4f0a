"""The Azure SDK management clients, built for an :class:`~sentikit.azure.context.AzureContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import AzureContext
from .errors import translate_errors

if TYPE_CHECKING:
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient


def sdk_kwargs(ctx: AzureContext) -> dict[str, Any]:
    return {"base_url": ctx.arm_endpoint, "credential_scopes": [ctx.scope], **ctx.client_kwargs}


def container_instance_client(ctx: AzureContext) -> "ContainerInstanceManagementClient":
    """The Container Instances management client for this context."""
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    return ContainerInstanceManagementClient(ctx.credential, ctx.subscription_id, **sdk_kwargs(ctx))


def container_registry_client(ctx: AzureContext) -> "ContainerRegistryManagementClient":
    """The Container Registry management client for this context."""
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

    return ContainerRegistryManagementClient(ctx.credential, ctx.subscription_id, **sdk_kwargs(ctx))


def get_access_token(ctx: AzureContext, scope: str | None = None) -> str:
    """An Azure AD access token for ``scope`` (default: the ARM scope), errors translated."""
    with translate_errors("getting an Azure AD token"):
        return ctx.credential.get_token(scope or ctx.scope).token


