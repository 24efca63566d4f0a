"""deploy --target local: LocalTarget's deploy, status, logs and delete on the real engine, with the real image."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from sentikit.image import BuiltImage
from sentikit.errors import DeploymentError, InvalidInputError
from sentikit.deploy import DeployOptions
from sentikit.deploy.local import DEPLOYMENT_LABEL, LocalTarget

from _docker_fixtures import RUN_ID
from conftest import free_port

pytestmark = pytest.mark.docker

NAME = f"sentikit-test-{RUN_ID}"


def _score(url: str, text: str, key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(f"{url}/v1/score", data=json.dumps({"texts": [text]}).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_deploy_status_logs_redeploy_delete(app_image: BuiltImage, trained_model: Any, docker_client: Any) -> None:
    messages: list[str] = []
    port = free_port()
    local = LocalTarget(host_port=port)
    try:
        deployment = local.deploy(DeployOptions(name=NAME, image=app_image.tag, env={"SENTIKIT_THRESHOLD": "0.3"},
                                                api_key="s3cret-key", smoke_test=False, cpu=0.5, memory_gb=0.75),
                                  on_progress=lambda message, fraction: messages.append(message))
        assert deployment.url == f"http://127.0.0.1:{port}"
        assert deployment.state == "Running"
        assert deployment.target == "local"
        assert deployment.image == app_image.tag
        assert deployment.detail["env"] == ["SENTIKIT_THRESHOLD"]
        assert deployment.detail["secure_env"] == ["SENTIKIT_API_KEY"]
        assert "s3cret-key" not in repr(deployment)
        assert messages[-1] == f"waiting for {deployment.url}/readyz"

        with pytest.raises(urllib.error.HTTPError) as info:
            _score(deployment.url, "lovely")
        assert info.value.code == 401
        body = _score(deployment.url, "lovely", key="s3cret-key")
        assert body["scores"] == pytest.approx(trained_model.score(["lovely"]), abs=1e-9)
        assert body["threshold"] == 0.3

        container = docker_client.containers.get(NAME)
        assert container.labels[DEPLOYMENT_LABEL] == NAME
        assert container.attrs["HostConfig"]["PortBindings"]["8000/tcp"][0]["HostIp"] == "127.0.0.1"
        # --cpu and --memory as the engine enforces them (CFS quota, cgroup memory limit)
        assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
        assert container.attrs["HostConfig"]["Memory"] == 768 * 1024**2
        assert (deployment.detail["cpu"], deployment.detail["memory_gb"]) == (0.5, 0.75)

        status = local.status(NAME)
        assert (status.state, status.url, status.detail["status"]) == ("Running", deployment.url, "running")
        assert "Uvicorn running on http://0.0.0.0:8000" in local.logs(NAME)
        assert len(local.logs(NAME, tail=1).strip().splitlines()) == 1

        # Re-deploying replaces the container; without --port the engine picks a free one.
        again = LocalTarget().deploy(DeployOptions(name=NAME, image=app_image.tag),
                                     on_progress=lambda message, fraction: messages.append(message))
        assert again.detail["smoke_test"]["score"] == pytest.approx(
            trained_model.score([again.detail["smoke_test"]["text"]])[0], abs=1e-4)
        assert f"replacing the running deployment {NAME}" in messages
        assert again.detail["container_id"] != deployment.detail["container_id"]
        assert again.url != deployment.url
        assert _score(again.url, "lovely")["scores"] == body["scores"]  # no key any more
        host = docker_client.containers.get(NAME).attrs["HostConfig"]
        assert (host["NanoCpus"], host["Memory"]) == (1_000_000_000, 1536 * 1024**2)  # the defaults, as on ACI
    finally:
        removed = local.delete(NAME)
    assert removed.state == "Deleted" and removed.image == app_image.tag
    assert local.delete(NAME).state == "NotFound"
    assert local.status(NAME).state == "NotFound"
    with pytest.raises(InvalidInputError, match=f"no local deployment named '{NAME}'"):
        local.logs(NAME)


def test_a_server_that_cannot_start_is_reported_with_its_logs(app_image: BuiltImage) -> None:
    name = f"{NAME}-broken"
    try:
        with pytest.raises(DeploymentError) as info:
            LocalTarget().deploy(DeployOptions(name=name, image=app_image.tag, env={"SENTIKIT_MODEL_PATH": "/nowhere"},
                                               timeout=30))
        assert f"container {name} exited before it was ready" in str(info.value)
        assert "/nowhere" in str(info.value)
    finally:
        LocalTarget().delete(name)


def test_refuses_to_replace_a_foreign_container(base_image: str, docker_client: Any, app_image: BuiltImage) -> None:
    name = f"{NAME}-foreign"
    docker_client.containers.create(base_image, name=name, command=["true"])
    try:
        with pytest.raises(InvalidInputError, match="was not created by sentikit"):
            LocalTarget().deploy(DeployOptions(name=name, image=app_image.tag))
    finally:
        docker_client.containers.get(name).remove(force=True)


def test_unknown_image_and_bad_name_are_user_errors(docker_client: Any) -> None:
    with pytest.raises(InvalidInputError, match="build it with `sentikit build --tag sentikit-none:0`"):
        LocalTarget().deploy(DeployOptions(name=f"{NAME}-none", image="sentikit-none:0"))
    with pytest.raises(InvalidInputError, match="invalid deployment name"):
        LocalTarget().deploy(DeployOptions(name="Bad Name", image="x"))
    cpus = docker_client.info()["NCPU"]
    with pytest.raises(InvalidInputError, match=f"invalid --cpu {cpus + 1}: the local Docker engine has {cpus} CPUs"):
        LocalTarget().deploy(DeployOptions(name=f"{NAME}-big", image="x", cpu=cpus + 1))
    with pytest.raises(InvalidInputError, match="invalid --memory 0.001"):
        LocalTarget().deploy(DeployOptions(name=f"{NAME}-small", image="x", memory_gb=0.001))


def test_the_desk_store_is_on_a_named_volume_that_survives_a_redeploy(app_image: BuiltImage, docker_client: Any,
                                                                       base_image: str) -> None:
    from sentikit.deploy.desk import DeskSettings, volume_name

    name, volume = f"{NAME}-desk", volume_name(f"{NAME}-desk")
    desk = DeskSettings(alert_below=0.4, window=50)
    local = LocalTarget()
    try:
        first = local.deploy(DeployOptions(name=name, image=app_image.tag, desk=desk))  # smoke test: the desk's state
        container = docker_client.containers.get(name)
        mounts = [(m["Type"], m["Name"], m["Destination"], m["RW"]) for m in container.attrs["Mounts"]]
        assert mounts == [("volume", volume, "/data", True)]
        env = dict(item.partition("=")[::2] for item in container.attrs["Config"]["Env"])
        assert {k: v for k, v in env.items() if k.startswith("SENTIKIT_MONITOR")} == {
            "SENTIKIT_MONITOR": "1", "SENTIKIT_MONITOR_ALERT_BELOW": "0.4", "SENTIKIT_MONITOR_WINDOW": "50",
            "SENTIKIT_MONITOR_STORE": "/data/monitor.db"}
        assert first.detail["monitor_store"] == f"SQLite /data/monitor.db on Docker volume {volume}"
        assert container.exec_run(["id", "-u"]).output.strip() == b"10001"  # the image's own user writes the store
        posts = {"posts": [{"id": f"p{i}", "text": text} for i, text in enumerate(["lovely flat", "rude host", "fine"])]}
        stored = _post_json(f"{first.url}/v1/posts", posts)
        assert (stored["accepted"], stored["duplicates"]) == (3, 0)

        again = local.deploy(DeployOptions(name=name, image=app_image.tag, desk=desk))
        assert again.detail["container_id"] != first.detail["container_id"]
        with urllib.request.urlopen(f"{again.url}/v1/monitor/state", timeout=10) as response:
            assert json.load(response)["posts"] == 3  # the new container reads the history from the volume
        assert _post_json(f"{again.url}/v1/posts", posts)["duplicates"] == 3
    finally:
        removed = local.delete(name)
        try:
            assert removed.detail == {"kept_volume": volume}
            assert docker_client.volumes.get(volume).attrs["Labels"] == {DEPLOYMENT_LABEL: name}
        finally:
            docker_client.volumes.get(volume).remove()

    with pytest.raises(InvalidInputError, match=f"{base_image} was built before the desk"):
        local.deploy(DeployOptions(name=name, image=base_image, desk=desk))
