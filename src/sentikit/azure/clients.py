"""The Azure SDK management clients, built for an :class:`~sentikit.azure.context.AzureContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ArmNotFoundError
from .context import AzureContext
from .errors import translate_errors

if TYPE_CHECKING:
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient


def sdk_kwargs(ctx: AzureContext) -> dict[str, Any]:
    """Keyword arguments for every ARM SDK client: endpoint, scope, LRO polling interval, policies, TLS."""
    from .providers import ProviderRegistrationPolicy

    return {"base_url": ctx.arm_endpoint, "credential_scopes": [ctx.scope], "polling_interval": ctx.poll_interval,
            "per_retry_policies": [ProviderRegistrationPolicy(poll_interval=ctx.poll_interval,
                                                              timeout=ctx.provider_timeout)],
            **ctx.client_kwargs}


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




RESOURCE_GROUP_API_VERSION = "2022-09-01"


def resource_group_location(ctx: AzureContext, resource_group: str) -> str:
    """The region of the resource group: where ``az container create`` and ``az acr create`` put new resources."""
    from azure.core.rest import HttpRequest

    client = container_instance_client(ctx)
    request = HttpRequest("GET", f"/subscriptions/{ctx.subscription_id}/resourcegroups/{resource_group}",
                          params={"api-version": RESOURCE_GROUP_API_VERSION})
    with translate_errors(f"reading resource group '{resource_group}'"):
        response = client._send_request(request)
        if response.status_code == 404:
            raise ArmNotFoundError(f"resource group '{resource_group}' could not be found", code="ResourceGroupNotFound")
        response.raise_for_status()
        return str(response.json()["location"])
