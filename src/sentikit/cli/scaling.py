"""The scaling targets of deploy/status/logs/delete: ``--target containerapps`` and ``--target kubernetes``.

cli/cloud.py owns the commands; this module holds their extra options and turns resolved settings
into the library's specs, so each target's flags are spelled once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import typer

from . import render as output
from ..config import Settings
from ..errors import InvalidInputError
from .render import escape

if TYPE_CHECKING:
    from ..deploy import Deployment

MinReplicas = Annotated[Optional[int], typer.Option(
    "--min-replicas", min=0, max=1000, help="Fewest replicas (containerapps: 0 scales to zero; kubernetes: at least 1) \\[default: 1].")]
MaxReplicas = Annotated[Optional[int], typer.Option("--max-replicas", min=1, max=1000, help="Most replicas \\[default: 10].")]
Concurrency = Annotated[Optional[int], typer.Option(
    "--concurrency", min=1, help="containerapps: requests in flight per replica before another starts \\[default: 12, measured].")]
CpuTarget = Annotated[Optional[int], typer.Option(
    "--cpu-target", min=1, max=100, help="Average CPU % of the request that adds a replica (kubernetes HPA; containerapps: an extra rule).")]
Environment = Annotated[Optional[str], typer.Option(
    "--environment", help="containerapps: managed environment, created when missing \\[default: sentikit-env].")]
RegistryIdentity = Annotated[Optional[str], typer.Option(
    "--registry-identity", help="azure, containerapps: resource id of a user-assigned identity with AcrPull on the registry (pulls without the admin user).")]
ApiKeySecret = Annotated[Optional[str], typer.Option(
    "--api-key-secret", help="kubernetes: existing Secret NAME[:KEY] holding the API key (key default: api-key).")]
Namespace = Annotated[Optional[str], typer.Option("--namespace", help="kubernetes: namespace for kustomization.yaml.")]
RenderOnly = Annotated[Optional[Path], typer.Option(
    "--render-only", help="kubernetes: write the kustomize manifests into DIR (nothing is applied).")]
EnvironmentToo = Annotated[bool, typer.Option(
    "--environment-too", help="containerapps: also delete the managed environment when no other app uses it.")]

SCALING_TARGETS = ("containerapps", "kubernetes")


def scaling_settings(s: Settings, *, min_replicas: Optional[int], max_replicas: Optional[int],
                     concurrency: Optional[int], cpu_target: Optional[int], environment: Optional[str],
                     api_key_secret: Optional[str], namespace: Optional[str]) -> Settings:
    """``s`` with the scaling flags applied (flags win over environment and file)."""
    from ..config import replace

    return replace(s, container_min_replicas=min_replicas, container_max_replicas=max_replicas,
                   container_concurrency=concurrency, container_cpu_target=cpu_target,
                   azure_environment=environment, kubernetes_api_key_secret=api_key_secret,
                   kubernetes_namespace=namespace)


def kubernetes_where(s: Settings, render_only: Optional[Path]) -> dict[str, Any]:
    """The :class:`KubernetesTarget` arguments for these settings."""
    return {"directory": render_only, "min_replicas": s.container_min_replicas, "max_replicas": s.container_max_replicas,
            "cpu_target": s.container_cpu_target, "api_key_secret": s.kubernetes_api_key_secret,
            "namespace": s.kubernetes_namespace}


def containerapps_where(s: Settings, *, memory: Optional[float], location: Optional[str], registry: Optional[str],
                        registry_login: Any, registry_identity: Optional[str], cpu_target_given: bool) -> dict[str, Any]:
    """The :class:`ContainerAppsTarget` arguments (besides ``ctx``) for these settings and flags.

    Memory comes from ``--memory`` only (Container Apps ties it to the CPU: 2 GiB per vCPU when omitted);
    ``--location`` only places a new environment, which otherwise goes to the resource group's region.
    The CPU rule is added only when ``--cpu-target`` was given (HTTP concurrency drives the scaling).
    """
    return {"resource_group": s.azure_resource_group, "environment": s.azure_environment, "location": location or "",
            "memory_gb": memory, "min_replicas": s.container_min_replicas, "max_replicas": s.container_max_replicas,
            "concurrency": s.container_concurrency,
            "cpu_target": s.container_cpu_target if cpu_target_given else None,
            "registry": registry or "", "registry_login": registry_login, "registry_identity": registry_identity or ""}


def render_extra(result: Deployment) -> None:
    """The lines the generic deployment view does not show, for the scaling targets."""
    if result.target == "containerapps":
        render_containerapp(result)
    elif result.target == "kubernetes":
        render_manifests(result)


def render_manifests(result: Deployment, say: Callable[..., None] | None = None) -> None:
    """Where the manifests went and how to apply them; stdout gets the directory."""
    say = say or output.console.print
    detail = result.detail
    directory = str(detail.get("directory"))
    files = [str(f) for f in detail.get("files") or []]  # type: ignore[attr-defined]
    versions = [str(v) for v in detail.get("validated_for") or []]  # type: ignore[attr-defined]
    say(f"wrote {len(files)} manifests to {escape(directory)}: {escape(', '.join(files))}", soft_wrap=True)
    if not detail.get("pinned"):
        say("  image by tag: pass the ref@sha256 that `sentikit push` printed to pin it", soft_wrap=True)
    if not detail.get("api_key_secret"):
        say("  no --api-key-secret: the API will accept requests without a key", soft_wrap=True)
    say(f"  schema-validated for Kubernetes {', '.join(versions)}; apply with: kubectl apply -k {escape(directory)}",
        soft_wrap=True)
    print(directory)


def render_containerapp(result: Deployment, say: Callable[..., None] | None = None) -> None:
    """The Container Apps lines the generic deployment view does not show: revision, scale, replicas, costs."""
    say = say or output.console.print
    detail = result.detail
    if detail.get("revision"):
        state = detail.get("revision_state") or {}
        running = state.get("running") if isinstance(state, dict) else None
        say(f"  revision: {escape(str(detail['revision']))}" + (f" ({escape(str(running))})" if running else ""),
            soft_wrap=True)
    scale = detail.get("scale")
    if isinstance(scale, dict) and scale.get("max_replicas") is not None:
        say(f"  scale: {scale.get('min_replicas')}-{scale.get('max_replicas')} replicas, rules "
            f"{escape(', '.join(str(r) for r in scale.get('rules') or []))}", soft_wrap=True)
    replicas = detail.get("replicas")
    for replica in replicas if isinstance(replicas, list) else []:
        containers = replica.get("containers") or []
        ready = all(c.get("ready") for c in containers) if containers else False
        say(f"  replica {escape(str(replica.get('name')))}: {escape(str(replica.get('state')))}"
            f"{', ready' if ready else ', not ready'}", soft_wrap=True)
    if detail.get("environment_created"):
        from ..deploy.containerapps import ENVIRONMENT_COST

        say(f"  created environment {escape(str(detail.get('environment')))}: {escape(ENVIRONMENT_COST)}; "
            "remove it with `sentikit delete --target containerapps --environment-too`", soft_wrap=True)
    if detail.get("scale_to_zero"):
        say(f"  note: {escape(str(detail['scale_to_zero']))}", soft_wrap=True)


__all__ = [
    "ApiKeySecret", "Concurrency", "CpuTarget", "Environment", "EnvironmentToo", "MaxReplicas", "MinReplicas",
    "Namespace", "RegistryIdentity", "RenderOnly", "SCALING_TARGETS", "containerapps_where", "kubernetes_where",
    "render_containerapp", "render_extra", "render_manifests", "scaling_settings",
]
