"""``deploy --target kubernetes --render-only DIR``: a kustomize-ready set of manifests (pure rendering).

The set is a Deployment (non-root, read-only root filesystem, no privilege escalation, all
capabilities dropped, requests = limits, liveness ``/healthz`` and readiness ``/readyz`` probes),
a ClusterIP Service, an ``autoscaling/v2`` HorizontalPodAutoscaler on CPU, a PodDisruptionBudget
and the ``kustomization.yaml`` that lists them. The API key is read from an existing Secret by
name: no secret value is ever written. Nothing here talks to a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_output
from ..config import API_KEY_ENV_VAR, Settings
from ..errors import InvalidInputError
from .base import Deployment, DeployOptions, ProgressCallback, register_target, server_environment

# The image's numeric user (Dockerfile.template, build.DEFAULT_UID): runAsNonRoot needs a number.
IMAGE_UID = 10001
CONTAINER_NAME = "sentikit"
SECRET_KEY = "api-key"
APP_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
# The schema versions the tests validate against (tests/kubernetes); the header comment says so.
VALIDATED_VERSIONS = ("1.29", "1.31", "1.33", "1.35")
FILES = ("kustomization.yaml", "deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml")

# RFC 1035 label (Service names must be one): lowercase alphanumerics and '-', starting with a letter.
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# RFC 1123 subdomain (Secret and namespace names).
_DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = {API_KEY_ENV_VAR, *server_environment(8000, 1)}


@dataclass(frozen=True)
class KubernetesSpec:
    """What the manifests describe; validated by :meth:`validate` before anything is rendered."""

    name: str
    image: str
    min_replicas: int = Settings.container_min_replicas
    max_replicas: int = Settings.container_max_replicas
    cpu: float = Settings.container_cpu
    memory_gb: float = Settings.container_memory
    port: int = Settings.container_port
    cpu_target: int = Settings.container_cpu_target  # measured: bench/capacity.py
    api_key_secret: str = ""  # NAME or NAME:KEY of an existing Secret; empty: the API is open
    namespace: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def validate(self) -> "KubernetesSpec":
        """Check every field; raise :class:`InvalidInputError` with the rule that was broken."""
        if not _DNS_1035.match(self.name or ""):
            raise InvalidInputError(
                f"invalid deployment name '{self.name}': Kubernetes needs 1-63 lowercase letters, digits and '-', "
                "starting with a letter and ending with a letter or digit"
            )
        validate_image(self.image)
        if self.min_replicas < 1:
            raise InvalidInputError(
                "--min-replicas must be at least 1 on Kubernetes: the HorizontalPodAutoscaler cannot scale to zero "
                "(scale to zero with --target containerapps)"
            )
        if self.max_replicas < self.min_replicas:
            raise InvalidInputError(f"--max-replicas ({self.max_replicas}) is below --min-replicas ({self.min_replicas})")
        if self.max_replicas > 1000:
            raise InvalidInputError(f"--max-replicas {self.max_replicas} is more than 1000")
        if not 0.01 <= self.cpu <= 64:
            raise InvalidInputError(f"invalid --cpu {self.cpu}: use 0.01 to 64 cores")
        if not 0.0625 <= self.memory_gb <= 256:
            raise InvalidInputError(f"invalid --memory {self.memory_gb}: use 0.0625 to 256 GiB")
        if not 1 <= self.port <= 65535:
            raise InvalidInputError(f"invalid --port {self.port}")
        if not 1 <= self.cpu_target <= 100:
            raise InvalidInputError(f"invalid --cpu-target {self.cpu_target}: a percentage of the CPU request, 1-100")
        if self.api_key_secret:
            secret, key = split_secret_ref(self.api_key_secret)
            if len(secret) > 253 or not _DNS_1123_SUBDOMAIN.match(secret):
                raise InvalidInputError(
                    f"invalid --api-key-secret '{secret}': a Secret name is lowercase letters, digits, '-' and '.'"
                )
            if len(key) > 253 or not _SECRET_KEY_RE.match(key):
                raise InvalidInputError(f"invalid key '{key}' in --api-key-secret: letters, digits, '-', '_' and '.'")
        if self.namespace and (len(self.namespace) > 63 or not _DNS_1035.match(self.namespace)):
            raise InvalidInputError(f"invalid --namespace '{self.namespace}': 1-63 lowercase letters, digits and '-'")
        for name in self.env:
            if not _ENV_NAME_RE.match(name):
                raise InvalidInputError(f"invalid environment variable name '{name}'")
            if name in _RESERVED_ENV:
                raise InvalidInputError(
                    f"{name} is set by sentikit" + (" from --api-key-secret" if name == API_KEY_ENV_VAR else "")
                )
        return self

    @property
    def autoscaled(self) -> bool:
        """Whether an HPA manages the replica count (min below max)."""
        return self.max_replicas > self.min_replicas


def validate_image(image: str) -> str:
    """A non-empty image reference without whitespace; ``@sha256:`` digests must be 64 hex digits."""
    if not image or any(c.isspace() for c in image) or image.startswith(("-", "/")):
        raise InvalidInputError(f"invalid --image '{image}'")
    if "@" in image:
        digest = image.split("@", 1)[1]
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise InvalidInputError(f"invalid digest in --image '{image}': expected @sha256: and 64 hex digits")
    return image


def pinned_image(image: str) -> str:
    """``image`` by digest when the local Docker engine knows one (it pushed or pulled it), else as given.

    Best effort: no engine, an unknown image or no digest for that repository leave ``image`` alone.
    """
    if "@" in image:
        return image
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    try:
        from ..docker_engine import docker_client

        repo_digests = docker_client().images.get(image).attrs.get("RepoDigests") or []
    except Exception:  # no engine or no such image: keep the tag
        return image
    for entry in repo_digests:
        name, _, digest = str(entry).partition("@")
        if name == repository and digest.startswith("sha256:"):
            return f"{repository}@{digest}"
    return image


def split_secret_ref(ref: str) -> tuple[str, str]:
    """``NAME`` or ``NAME:KEY`` → (secret name, key); the key defaults to ``api-key``."""
    name, _, key = ref.partition(":")
    return name, key or SECRET_KEY


def _quantity_cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _quantity_memory(gib: float) -> str:
    return f"{round(gib * 1024)}Mi"


def _labels(spec: KubernetesSpec) -> dict[str, str]:
    return {APP_LABEL: "sentikit", INSTANCE_LABEL: spec.name, "app.kubernetes.io/managed-by": "sentikit"}


def _selector(spec: KubernetesSpec) -> dict[str, str]:
    return {APP_LABEL: "sentikit", INSTANCE_LABEL: spec.name}


def _metadata(spec: KubernetesSpec) -> dict[str, Any]:
    return {"name": spec.name, "labels": _labels(spec)}


def deployment_manifest(spec: KubernetesSpec) -> dict[str, Any]:
    """The Deployment. With an HPA it has no ``replicas``: re-applying must not undo the HPA's scaling."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in server_environment(spec.port, spec.cpu).items()]
    env += [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    if spec.api_key_secret:
        secret, key = split_secret_ref(spec.api_key_secret)
        env.append({"name": API_KEY_ENV_VAR, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    resources = {"cpu": _quantity_cpu(spec.cpu), "memory": _quantity_memory(spec.memory_gb)}

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 2,
                "failureThreshold": failures}

    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        # Up to 60 s to load the model before liveness starts counting.
        "startupProbe": probe("/healthz", 2, 30),
        "livenessProbe": probe("/healthz", 10, 3),
        "readinessProbe": probe("/readyz", 5, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_UID,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment_spec: dict[str, Any] = {}
    if not spec.autoscaled:
        deployment_spec["replicas"] = spec.min_replicas
    deployment_spec.update({
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": _selector(spec)},
        # Zero-downtime rollouts: a new pod must be ready before an old one goes.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": _labels(spec)},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 30,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": IMAGE_UID,
                    "runAsGroup": IMAGE_UID,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                # The root filesystem is read-only; Python's tempfile still gets a small scratch directory.
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
            },
        },
    })
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(spec), "spec": deployment_spec}


def service_manifest(spec: KubernetesSpec) -> dict[str, Any]:
    """A ClusterIP Service on port 80 to the pods' ``http`` port (expose it with an Ingress or a LoadBalancer)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(spec),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def hpa_manifest(spec: KubernetesSpec) -> dict[str, Any]:
    """``autoscaling/v2`` HPA: average CPU utilisation of the requests, min/max replicas."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": spec.min_replicas,
            "maxReplicas": spec.max_replicas,
            "metrics": [{"type": "Resource",
                         "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                "averageUtilization": spec.cpu_target}}}],
            # Scale up at once on a burst; scale down only after 5 minutes of lower load.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def pdb_manifest(spec: KubernetesSpec) -> dict[str, Any]:
    """At most one pod down at a time for voluntary disruptions; never blocks a node drain."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(spec),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(spec)}},
    }


def kustomization_manifest(spec: KubernetesSpec, resources: list[str]) -> dict[str, Any]:
    """The kustomization listing the resources (and the namespace, when given)."""
    document: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if spec.namespace:
        document["namespace"] = spec.namespace
    document["resources"] = resources
    return document


def manifests(spec: KubernetesSpec) -> dict[str, dict[str, Any]]:
    """File name → manifest, for a validated spec (the HPA only when min < max)."""
    spec.validate()
    documents = {"deployment.yaml": deployment_manifest(spec), "service.yaml": service_manifest(spec)}
    if spec.autoscaled:
        documents["hpa.yaml"] = hpa_manifest(spec)
    documents["pdb.yaml"] = pdb_manifest(spec)
    return {"kustomization.yaml": kustomization_manifest(spec, list(documents)), **documents}


def to_yaml(document: dict[str, Any]) -> str:
    """Block-style YAML in the manifests' own key order."""
    import yaml

    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120))


def render(spec: KubernetesSpec) -> dict[str, str]:
    """File name → YAML text, each with a header saying where it came from."""
    header = (f"# Rendered by `sentikit deploy --target kubernetes --render-only`; schema-validated (not applied) "
              f"for Kubernetes {', '.join(VALIDATED_VERSIONS)}.\n")
    return {name: header + to_yaml(document) for name, document in manifests(spec).items()}


def write_manifests(spec: KubernetesSpec, directory: Path) -> list[Path]:
    """Render and write the set into ``directory`` (created if missing), each file atomically.

    Everything is rendered before the first write, so a bad spec leaves nothing behind. Files of
    an earlier render that this one no longer produces (``hpa.yaml`` when min == max) are removed,
    because the new ``kustomization.yaml`` no longer lists them.
    """
    rendered = render(spec)
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(f"--render-only {directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered.items():
        with atomic_output(directory / name) as handle:
            handle.write(text)
        written.append(directory / name)
    for stale in set(FILES) - set(rendered):
        (directory / stale).unlink(missing_ok=True)
    return written


KUBECTL_HINT = ("sentikit does not talk to clusters: use `kubectl get,describe,delete -k DIR` and `kubectl logs` "
                "on the directory `deploy --target kubernetes --render-only DIR` wrote")


@register_target("kubernetes")
class KubernetesTarget:
    """Manifests rendered into a directory for ``kubectl apply -k``: deploy renders, nothing is applied."""

    name = "kubernetes"

    def __init__(self, *, directory: Path | None = None, min_replicas: int = Settings.container_min_replicas,
                 max_replicas: int = Settings.container_max_replicas, cpu_target: int = Settings.container_cpu_target,
                 api_key_secret: str = "", namespace: str = "", pin_digest: bool = True) -> None:
        self.directory = directory
        self.scale = {"min_replicas": min_replicas, "max_replicas": max_replicas, "cpu_target": cpu_target}
        self.api_key_secret, self.namespace, self.pin_digest = api_key_secret, namespace, pin_digest

    def describe(self) -> str:
        return f"Kubernetes manifests in {self.directory}"

    def deploy(self, options: DeployOptions, *, on_progress: ProgressCallback | None = None) -> Deployment:
        """Write the manifest set; secret values are refused (they would land in files)."""
        if self.directory is None:
            raise InvalidInputError("--target kubernetes needs --render-only DIR: sentikit writes the manifests, "
                                    "`kubectl apply -k DIR` applies them")
        if options.desk is not None:
            raise InvalidInputError("--monitor is not available with --target kubernetes yet: the desk needs a "
                                    "store every pod shares (deploy it with --target containerapps --store-url)")
        if options.secrets():
            raise InvalidInputError("--target kubernetes takes no secret values (they would land in files): create a "
                                    "Secret and pass --api-key-secret NAME")
        options.validate()
        image = pinned_image(options.image) if self.pin_digest else options.image
        spec = KubernetesSpec(name=options.name, image=image, cpu=options.cpu, memory_gb=options.memory_gb,
                              port=options.port, api_key_secret=self.api_key_secret, namespace=self.namespace,
                              env=dict(options.env), **self.scale)
        if on_progress:
            on_progress(f"rendering manifests into {self.directory}", None)
        files = write_manifests(spec, self.directory)
        return Deployment(name=options.name, target=self.name, state="Rendered", image=image, detail={
            "directory": str(self.directory), "files": [f.name for f in files], "autoscaled": spec.autoscaled,
            "api_key_secret": split_secret_ref(spec.api_key_secret)[0] if spec.api_key_secret else "",
            "pinned": "@" in image, "applied": False, "validated_for": list(VALIDATED_VERSIONS)})

    def status(self, name: str) -> Deployment:
        raise InvalidInputError(KUBECTL_HINT)

    def logs(self, name: str, tail: int | None = None) -> str:
        raise InvalidInputError(KUBECTL_HINT)

    def delete(self, name: str) -> Deployment:
        raise InvalidInputError(KUBECTL_HINT)


__all__ = [
    "KubernetesSpec",
    "KubernetesTarget",
    "VALIDATED_VERSIONS",
    "manifests",
    "render",
    "split_secret_ref",
    "validate_image",
    "write_manifests",
]
