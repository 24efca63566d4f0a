"""Kubernetes manifests: strict offline validation against the official schemas of several Kubernetes
versions (kubernetes-validate bundles them), `kubectl kustomize` when kubectl is installed, and policy.

There is no API server here: nothing is applied. The README says so.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sentikit.errors import InvalidInputError
from sentikit.deploy.kubernetes import VALIDATED_VERSIONS, KubernetesSpec, manifests, pinned_image, write_manifests

IMAGE = "sentiacr01.azurecr.io/sentikit-sentiment@sha256:" + "ab" * 32
SPEC = KubernetesSpec(name="sentiment", image=IMAGE, min_replicas=2, max_replicas=12, cpu=1.0, memory_gb=1.5,
                      api_key_secret="sentikit-api-key", cpu_target=65)


def _load_dir(directory: Path) -> dict[str, Any]:
    return {path.name: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.yaml"))}


def _kubernetes_documents(files: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for name, doc in files.items() if name != "kustomization.yaml"]


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    directory = tmp_path / "k8s"
    write_manifests(SPEC, directory)
    return directory


@pytest.mark.parametrize("version", VALIDATED_VERSIONS)
def test_every_manifest_validates_strictly(rendered: Path, version: str) -> None:
    files = _load_dir(rendered)
    assert sorted(files) == ["deployment.yaml", "hpa.yaml", "kustomization.yaml", "pdb.yaml", "service.yaml"]
    kinds = []
    for document in _kubernetes_documents(files):
        assert kubernetes_validate.validate(document, version, strict=True) == version
        kinds.append(document["kind"])
    assert sorted(kinds) == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


def test_strict_validation_rejects_what_the_api_server_would() -> None:
    """The validator is really strict: an unknown field and a wrong type fail (so the test above can fail)."""
    deployment = manifests(SPEC)["deployment.yaml"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VALIDATED_VERSIONS[0], strict=True)
    hpa = manifests(SPEC)["hpa.yaml"]
    hpa["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, VALIDATED_VERSIONS[-1], strict=True)


def test_policy_probes_resources_non_root_and_no_secret_values(rendered: Path) -> None:
    files = _load_dir(rendered)
    pod = files["deployment.yaml"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["resources"] == {"requests": {"cpu": "1000m", "memory": "1536Mi"},
                                      "limits": {"cpu": "1000m", "memory": "1536Mi"}}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    # The API key comes from the Secret by reference; no env entry carries a secret value.
    env = {e["name"]: e for e in container["env"]}
    assert env["SENTIKIT_API_KEY"] == {"name": "SENTIKIT_API_KEY",
                                       "valueFrom": {"secretKeyRef": {"name": "sentikit-api-key", "key": "api-key"}}}
    assert not any(doc.get("kind") == "Secret" for doc in files.values())
    # The HPA owns the replica count: the Deployment leaves it out so re-applying does not undo scaling.
    assert "replicas" not in files["deployment.yaml"]["spec"]
    hpa = files["hpa.yaml"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 12)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 65}
    assert files["pdb.yaml"]["spec"]["maxUnavailable"] == 1
    selector = files["deployment.yaml"]["spec"]["selector"]["matchLabels"]
    assert files["service.yaml"]["spec"]["selector"] == selector == files["pdb.yaml"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= files["deployment.yaml"]["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: kustomize build not checked")
def test_kubectl_kustomize_builds_the_set(rendered: Path) -> None:
    run = subprocess.run(["kubectl", "kustomize", str(rendered)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    built = [doc for doc in yaml.safe_load_all(run.stdout) if doc]
    assert sorted(doc["kind"] for doc in built) == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                                                    "Service"]
    for document in built:
        kubernetes_validate.validate(document, VALIDATED_VERSIONS[-1], strict=True)


def test_namespace_and_fixed_replicas(tmp_path: Path) -> None:
    directory = tmp_path / "k8s"
    write_manifests(SPEC, directory)
    assert (directory / "hpa.yaml").exists()
    fixed = KubernetesSpec(name="sentiment", image="sentikit-sentiment:1", min_replicas=3, max_replicas=3,
                           namespace="nlp")
    write_manifests(fixed, directory)
    files = _load_dir(directory)
    # min == max: a fixed replica count and no HPA (its file from the earlier render is gone too).
    assert "hpa.yaml" not in files
    assert files["deployment.yaml"]["spec"]["replicas"] == 3
    assert files["kustomization.yaml"] == {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                           "namespace": "nlp",
                                           "resources": ["deployment.yaml", "service.yaml", "pdb.yaml"]}
    env = {e["name"] for e in files["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "SENTIKIT_API_KEY" not in env
    for document in _kubernetes_documents(files):
        kubernetes_validate.validate(document, VALIDATED_VERSIONS[0], strict=True)


def test_workers_follow_the_cpu_allowance() -> None:
    env = lambda cpu: {e["name"]: e.get("value") for e in  # noqa: E731
                       manifests(KubernetesSpec(name="s1", image="x:1", cpu=cpu))["deployment.yaml"]
                       ["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env(0.5)["SENTIKIT_SERVER_WORKERS"] == "1"
    assert env(2.0)["SENTIKIT_SERVER_WORKERS"] == "2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Sentiment"}, "invalid deployment name"),
        ({"name": "1sentiment"}, "invalid deployment name"),
        ({"image": "has space:1"}, "invalid --image"),
        ({"image": "repo@sha256:abc"}, "invalid digest"),
        ({"min_replicas": 0}, "cannot scale to zero"),
        ({"min_replicas": 5, "max_replicas": 2}, "below --min-replicas"),
        ({"cpu": 0}, "invalid --cpu"),
        ({"memory_gb": 0.01}, "invalid --memory"),
        ({"cpu_target": 0}, "invalid --cpu-target"),
        ({"api_key_secret": "Bad_Name"}, "invalid --api-key-secret"),
        ({"api_key_secret": "ok:bad key"}, "invalid key"),
        ({"namespace": "Prod"}, "invalid --namespace"),
        ({"env": {"SENTIKIT_API_KEY": "x"}}, "set by sentikit from --api-key-secret"),
    ],
)
def test_bad_specs_are_refused_and_nothing_is_written(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    spec = KubernetesSpec(**{**SPEC.__dict__, **change})
    with pytest.raises(InvalidInputError, match=message):
        write_manifests(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pinned_image_keeps_a_digest_and_a_tag_it_cannot_resolve() -> None:
    assert pinned_image(IMAGE) == IMAGE
    assert pinned_image("no-such-registry.invalid/none:1") == "no-such-registry.invalid/none:1"


def test_cli_renders_from_flags_and_sentikit_toml_without_secret_values(cli: Any, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    Path("sentikit.toml").write_text(
        'image = "sentiacr01.azurecr.io/sentikit-sentiment:3"\n'
        "[container]\nname = \"sentiment-api\"\ncpu = 2.0\nmemory = 4.0\nmin_replicas = 3\nmax_replicas = 20\n"
        "cpu_target = 55\n"
        '[kubernetes]\napi_key_secret = "team-api-key:token"\nnamespace = "nlp"\n', encoding="utf-8")
    monkeypatch.setenv("SENTIKIT_API_KEY", "key-never-in-files-0123456789")
    out = tmp_path / "k8s"
    result = cli("deploy", "--target", "kubernetes", "--render-only", str(out), "--max-replicas", "30", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["target"] == "kubernetes" and result.json["state"] == "Rendered"
    assert result.json["detail"]["applied"] is False and result.json["detail"]["autoscaled"] is True
    assert result.json["detail"]["files"] == ["kustomization.yaml", "deployment.yaml", "service.yaml", "hpa.yaml",
                                              "pdb.yaml"]
    files = _load_dir(out)
    container = files["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert files["deployment.yaml"]["metadata"]["name"] == "sentiment-api"
    assert container["image"] == "sentiacr01.azurecr.io/sentikit-sentiment:3"
    assert container["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi"}
    assert {e["name"]: e.get("value") for e in container["env"]}["SENTIKIT_SERVER_WORKERS"] == "2"
    assert (files["hpa.yaml"]["spec"]["minReplicas"], files["hpa.yaml"]["spec"]["maxReplicas"]) == (3, 30)
    assert files["hpa.yaml"]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    assert files["kustomization.yaml"]["namespace"] == "nlp"
    env = {e["name"]: e for e in container["env"]}
    assert env["SENTIKIT_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "team-api-key", "key": "token"}
    every_byte = "".join(p.read_text() for p in out.iterdir())
    assert "key-never-in-files" not in every_byte and "key-never-in-files" not in result.stdout + result.stderr
    for document in _kubernetes_documents(files):
        kubernetes_validate.validate(document, VALIDATED_VERSIONS[1], strict=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs --render-only DIR"),
        (["--render-only", "OUT", "--api-key-env", "SENTIKIT_API_KEY"], "takes no secret values"),
        (["--render-only", "OUT", "--min-replicas", "0"], "cannot scale to zero"),
        (["--render-only", "OUT", "--name", "Bad_Name"], "invalid deployment name"),
    ],
)
def test_cli_refuses_bad_kubernetes_input(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          args: list[str], message: str) -> None:
    monkeypatch.setenv("SENTIKIT_API_KEY", "k" * 20)
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = cli("deploy", "--target", "kubernetes", "--image", "x:1", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_status_logs_delete_point_to_kubectl(cli: Any) -> None:
    result = cli("status", "--target", "kubernetes")
    assert result.exit_code == 2 and "kubectl" in result.stderr
