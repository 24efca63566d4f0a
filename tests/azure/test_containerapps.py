"""deploy --target containerapps against the Microsoft.App stand-in, through the real SDK over HTTPS:
request bodies (checked against the REST spec's shapes), environment in the resource group's region,
revisions on re-deploy, status, logs through the log stream, delete; Docker mode runs real replicas."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from sentikit.deploy.containerapps import (
    ContainerAppSpec,
    container_app_logs,
    container_app_status,
    delete_container_app,
    deploy_container_app,
)
from sentikit.errors import InvalidInputError, RemoteError
from sentikit.push import RegistryLogin

RG = "rg-sentikit"
IDENTITY = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-shared/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/sentikit-pull")

_spec = importlib.util.spec_from_file_location("sentikit_tests_containerapps_standin",
                                               Path(__file__).parent / "containerapps_standin.py")
standin_module = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules[_spec.name] = standin_module  # type: ignore[union-attr]
_spec.loader.exec_module(standin_module)  # type: ignore[union-attr]
ContainerAppsStandIn = standin_module.ContainerAppsStandIn


@pytest.fixture
def aca(arm: Any) -> Any:
    """The ARM stand-in (the one ``ctx`` points at) with Microsoft.App, no Docker; the group is in eastus."""
    return ContainerAppsStandIn(arm, group_locations={RG: "eastus"})


def _app_calls(aca: Any, method: str, contains: str = "/containerApps/") -> list[Any]:
    return [r for r in aca.arm.calls(method, contains) if "/providers/Microsoft.App/" in r.path]


def test_create_environment_in_group_region_then_app_with_the_bodies_the_service_expects(aca: Any, ctx: Any) -> None:
    spec = ContainerAppSpec(name="sentiment", resource_group=RG, image="registry.example.com/sentikit-sentiment:1",
                            cpu=0.5, port=8000, min_replicas=1, max_replicas=10, concurrency=12, cpu_target=60,
                            env={"LOG_LEVEL": "info"}, api_key="key-s3cr3t-0123456789",
                            registry_login=RegistryLogin("registry.example.com", "ci", "pw-s3cr3t", "password"))
    result = deploy_container_app(ctx, spec, smoke_test=False)

    env_put = _app_calls(aca, "PUT", "/managedEnvironments/sentikit-env")[0]
    assert env_put.status == 201
    assert env_put.body == {"location": "eastus", "tags": {"managed-by": "sentikit"},
                            "properties": {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}],
                                           "zoneRedundant": False}}
    app_put = _app_calls(aca, "PUT", "/containerApps/sentiment")[0]
    assert app_put.status == 201
    body = app_put.body
    assert body["location"] == "eastus"
    props = body["properties"]
    assert props["environmentId"].endswith("/resourceGroups/rg-sentikit/providers/Microsoft.App/managedEnvironments/sentikit-env")
    config = props["configuration"]
    assert config["activeRevisionsMode"] == "Single"
    assert config["ingress"] == {"external": True, "targetPort": 8000, "transport": "auto", "allowInsecure": False,
                                 "traffic": [{"latestRevision": True, "weight": 100}]}
    assert config["secrets"] == [{"name": "sentikit-api-key", "value": "key-s3cr3t-0123456789"},
                                 {"name": "registry-password", "value": "pw-s3cr3t"}]
    assert config["registries"] == [{"server": "registry.example.com", "username": "ci",
                                     "passwordSecretRef": "registry-password"}]
    container = props["template"]["containers"][0]
    assert container["resources"] == {"cpu": 0.5, "memory": "1Gi"}
    env = {e["name"]: e for e in container["env"]}
    assert env["SENTIKIT_API_KEY"] == {"name": "SENTIKIT_API_KEY", "secretRef": "sentikit-api-key"}
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "info"}
    assert env["SENTIKIT_SERVER_PORT"]["value"] == "8000"
    assert {p["type"]: p["httpGet"]["path"] for p in container["probes"]} == {
        "Startup": "/healthz", "Liveness": "/healthz", "Readiness": "/readyz"}
    assert props["template"]["scale"] == {
        "minReplicas": 1, "maxReplicas": 10,
        "rules": [{"name": "http-concurrency", "http": {"metadata": {"concurrentRequests": "12"}}},
                  {"name": "cpu-utilization", "custom": {"type": "cpu", "metadata": {"type": "Utilization", "value": "60"}}}]}
    # The long-running operations were followed to the end.
    assert aca.arm.calls("GET", "/providers/Microsoft.App/locations/eastus/managedEnvironmentOperationStatuses/")
    assert aca.arm.calls("GET", "/providers/Microsoft.App/locations/eastus/containerappOperationStatuses/")

    assert result.target == "containerapps" and result.state == "Running"
    assert result.url and result.url.startswith("https://sentiment.")
    assert result.detail["environment_created"] is True and result.detail["action"] == "created"
    first_revision = result.detail["revision"]
    assert str(first_revision).startswith("sentiment--")
    # GET never returns secret values.
    app = aca.arm.calls("GET", "/containerApps/sentiment")[-1]
    assert app.status == 200
    assert "key-s3cr3t" not in str(aca._public(aca.apps[(RG, "sentiment")]))

    # Re-deploying updates the app in place as a new revision; the old one is deactivated.
    again = deploy_container_app(ctx, ContainerAppSpec(**{**spec.__dict__, "max_replicas": 4}), smoke_test=False)
    assert again.detail["action"] == "updated" and again.detail["environment_created"] is False
    assert again.detail["revision"] != first_revision
    assert [c.status for c in _app_calls(aca, "PUT", "/containerApps/sentiment")] == [201, 201]
    assert len(_app_calls(aca, "PUT", "/managedEnvironments/")) == 1
    revisions = aca.revisions[(RG, "sentiment")]
    assert revisions[str(first_revision)]["properties"]["active"] is False
    assert revisions[str(again.detail["revision"])]["properties"]["active"] is True

    status = container_app_status(ctx, resource_group=RG, name="sentiment")
    assert status.state == "Running"
    assert status.detail["revision"] == again.detail["revision"]
    assert status.detail["scale"] == {"min_replicas": 1, "max_replicas": 4, "rules": ["http-concurrency", "cpu-utilization"]}
    assert [r["state"] for r in status.detail["replicas"]] == ["Running"]  # type: ignore[index]

    deleted = delete_container_app(ctx, resource_group=RG, name="sentiment", environment_too=True)
    assert deleted.state == "Deleted" and deleted.detail["environment_state"] == "Deleted"
    assert [c.status for c in _app_calls(aca, "DELETE")] == [202]
    assert [c.status for c in _app_calls(aca, "DELETE", "/managedEnvironments/")] == [202]
    assert not aca.apps and not aca.environments
    assert container_app_status(ctx, resource_group=RG, name="sentiment").state == "NotFound"
    assert delete_container_app(ctx, resource_group=RG, name="sentiment").state == "NotFound"


def test_managed_identity_pull_and_an_existing_environment(aca: Any, ctx: Any) -> None:
    first = ContainerAppSpec(name="other", resource_group=RG, image="sentiacr01.azurecr.io/sentikit-sentiment:1",
                             registry_identity=IDENTITY)
    deploy_container_app(ctx, first, smoke_test=False)
    body = _app_calls(aca, "PUT", "/containerApps/other")[0].body
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    assert body["properties"]["configuration"]["registries"] == [{"server": "sentiacr01.azurecr.io", "identity": IDENTITY}]
    assert body["properties"]["configuration"]["secrets"] == []
    # A second app reuses the environment; deleting it with --environment-too leaves the shared environment.
    second = ContainerAppSpec(name="sentiment", resource_group=RG, image="sentikit-sentiment:1", min_replicas=0)
    result = deploy_container_app(ctx, second, smoke_test=False)
    assert result.detail["environment_created"] is False
    assert "first request" in str(result.detail["scale_to_zero"])
    with pytest.raises(InvalidInputError, match="still runs other"):
        delete_container_app(ctx, resource_group=RG, name="sentiment", environment_too=True)
    assert (RG, "sentiment") not in aca.apps and aca.environments


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Sentiment"}, "invalid deployment name"),
        ({"name": "a" * 33}, "invalid deployment name"),
        ({"name": "sent--iment"}, "invalid deployment name"),
        ({"environment": "-env"}, "invalid --environment"),
        ({"cpu": 0.3}, "allows vCPU/GiB pairs 0.25/0.5"),
        ({"cpu": 1.0, "memory_gb": 1.5}, "invalid --cpu 1 / --memory 1.5"),
        ({"cpu": 4.0}, "invalid --cpu 4"),
        ({"min_replicas": 3, "max_replicas": 2}, "below --min-replicas"),
        ({"max_replicas": 0}, "invalid --max-replicas"),
        ({"concurrency": 0}, "invalid --concurrency"),
        ({"cpu_target": 101}, "invalid --cpu-target"),
        ({"image": "sentiacr01.azurecr.io/x:1"}, "is private: pass --registry-identity"),
        ({"registry_identity": "/subscriptions/x/oops"}, "invalid --registry-identity"),
        ({"env": {"SENTIKIT_API_KEY": "x"}}, "is a secret"),
    ],
)
def test_invalid_specs_are_refused_before_any_call(aca: Any, ctx: Any, change: dict[str, Any], message: str) -> None:
    spec = ContainerAppSpec(**{"name": "sentiment", "resource_group": RG, "image": "sentikit-sentiment:1", **change})
    with pytest.raises(InvalidInputError, match=message):
        deploy_container_app(ctx, spec, smoke_test=False)
    assert not [r for r in aca.arm.requests if "Microsoft.App" in r.path]


def test_the_standin_refuses_what_the_service_refuses(aca: Any, ctx: Any) -> None:
    """Straight through the SDK, bypassing sentikit's checks: the service's codes and messages."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.mgmt.appcontainers.models import ContainerApp

    from sentikit.deploy.containerapps import containerapps_client, ensure_environment

    env, _ = ensure_environment(ctx, resource_group=RG, name="sentikit-env")
    client = containerapps_client(ctx)
    body = {"location": "eastus", "properties": {"environmentId": env["id"], "template": {"containers": [
        {"name": "c", "image": "x:1", "resources": {"cpu": 1.0, "memory": "1Gi"}}]}}}
    with pytest.raises(HttpResponseError) as refused:
        client.container_apps.begin_create_or_update(RG, "sentiment", ContainerApp(body))
    assert refused.value.status_code == 400
    assert refused.value.error is not None and refused.value.error.code == "ContainerAppInvalidResourceTotal"
    assert "[cpu: 0.25, memory: 0.5Gi]" in str(refused.value.error.message)
    body["location"] = "westeurope"
    body["properties"]["template"]["containers"][0]["resources"] = {"cpu": 0.5, "memory": "1Gi"}  # type: ignore[index]
    with pytest.raises(HttpResponseError) as mismatch:
        client.container_apps.begin_create_or_update(RG, "sentiment", ContainerApp(body))
    assert mismatch.value.error is not None and mismatch.value.error.code == "ContainerAppLocationMismatch"
    with pytest.raises(ResourceNotFoundError):
        client.container_apps.get(RG, "missing")
    # sentikit's error translation keeps the code and the service's words.
    from sentikit.azure import translate_errors

    with pytest.raises(RemoteError, match="ContainerAppInvalidResourceTotal: The total requested CPU"):
        with translate_errors("creating container app 'sentiment'"):
            body["location"] = "eastus"
            body["properties"]["template"]["containers"][0]["resources"] = {"cpu": 2.0, "memory": "1Gi"}  # type: ignore[index]
            client.container_apps.begin_create_or_update(RG, "sentiment", ContainerApp(body))


@pytest.mark.docker
@pytest.mark.slow
def test_real_replicas_behind_https_ingress_smoke_test_logs_and_delete(
    make_standin: Any, context_factory: Any, pushed_app: str, registry: Any, docker_client: Any,
    monkeypatch: pytest.MonkeyPatch, trained_model: Any,
) -> None:
    arm = make_standin(docker=True)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the smoke test trusts the context's connection_verify
    aca = ContainerAppsStandIn(arm, docker_client=docker_client, group_locations={RG: "northeurope"})
    ctx = context_factory(arm)
    spec = ContainerAppSpec(name="sentiment", resource_group=RG, image=pushed_app, min_replicas=2, max_replicas=5,
                            api_key="key-s3cr3t-0123456789",
                            registry_login=RegistryLogin(registry.host, registry.username, registry.password, "password"))
    try:
        result = deploy_container_app(ctx, spec, smoke_test=True, timeout=180)
        assert result.url and result.url.startswith("https://127.0.0.1:")
        smoke = result.detail["smoke_test"]  # the real serving image, with the tiny model
        assert smoke["ready"] is True and smoke["score"] == pytest.approx(trained_model.score([smoke["text"]])[0], abs=1e-4)
        assert len(aca.running_containers(RG, "sentiment")) == 2
        # The ingress spreads requests over both real replicas.
        import httpx

        import ssl

        with httpx.Client(verify=ssl.create_default_context(cafile=str(arm.ca_path))) as http:
            for _ in range(6):
                assert http.get(f"{result.url}/healthz").status_code == 200
        assert sorted(aca.proxies[(RG, "sentiment")].served.values())[0] >= 3
        status = container_app_status(ctx, resource_group=RG, name="sentiment")
        assert [r["state"] for r in status.detail["replicas"]] == ["Running", "Running"]  # type: ignore[index]
        assert all(c["ready"] for r in status.detail["replicas"] for c in r["containers"])  # type: ignore[index,union-attr]
        logs = container_app_logs(ctx, resource_group=RG, name="sentiment", tail=50)
        assert "sentikit: serving " in logs and "on http://0.0.0.0:8000" in logs
        assert "key-s3cr3t" not in logs
    finally:
        deleted = delete_container_app(ctx, resource_group=RG, name="sentiment", environment_too=True)
    assert deleted.state == "Deleted"
    assert aca.running_containers(RG, "sentiment") == []


@pytest.mark.docker
@pytest.mark.slow
def test_cli_deploy_redeploy_status_logs_delete(make_standin: Any, azure_env: Any, cli: Any, app_image: Any,
                                                 docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's command line with sentikit's own image: deploy min 1 / max 10, update, inspect, remove."""
    arm = make_standin(docker=True)
    arm.seed_registry(RG, "sentiacr01", admin_user_enabled=True)
    aca = ContainerAppsStandIn(arm, docker_client=docker_client, group_locations={RG: "eastus"})
    azure_env(arm)
    monkeypatch.delenv("SSL_CERT_FILE")  # REQUESTS_CA_BUNDLE alone, as behind a TLS-inspecting proxy: the smoke test honours it
    monkeypatch.setenv("MY_API_KEY", "key-" + "s3cr3t-value-0123456789")
    args = ["deploy", "--target", "containerapps", "--name", "sentiment", "--resource-group", RG,
            "--image", app_image.tag, "--min-replicas", "1", "--max-replicas", "10",
            "--api-key-env", "MY_API_KEY", "--timeout", "180"]
    first = cli(*args, "--json")
    assert first.exit_code == 0, first.stderr
    deployed = first.json
    assert deployed["target"] == "containerapps" and deployed["state"] == "Running"
    assert deployed["url"].startswith("https://127.0.0.1:")
    assert deployed["detail"]["smoke_test"]["ready"] is True and deployed["detail"]["smoke_test"]["score"] > 0.5
    assert deployed["detail"]["location"] == "eastus" and deployed["detail"]["environment_created"] is True
    body = _app_calls(aca, "PUT", "/containerApps/sentiment")[0].body
    assert body["properties"]["template"]["scale"]["minReplicas"] == 1
    assert body["properties"]["template"]["scale"]["maxReplicas"] == 10
    assert body["properties"]["template"]["scale"]["rules"][0]["http"]["metadata"] == {"concurrentRequests": "12"}
    assert body["properties"]["template"]["containers"][0]["image"] == app_image.tag
    assert "s3cr3t-value" not in first.stdout + first.stderr
    # The real server checks the key that arrived through the secret reference.
    import ssl

    import httpx

    with httpx.Client(verify=ssl.create_default_context(cafile=str(arm.ca_path))) as http:
        assert http.post(f"{deployed['url']}/v1/score", json={"texts": ["lovely"]}).status_code == 401
        scored = http.post(f"{deployed['url']}/v1/score", json={"texts": ["The staff were friendly and helpful"]},
                           headers={"Authorization": "Bearer key-s3cr3t-value-0123456789"})
        assert scored.status_code == 200 and len(scored.json()["scores"]) == 1

    second = cli(*args, "--env", "LOG_LEVEL=info")  # human output this time
    assert second.exit_code == 0, second.stderr
    assert "updated" in second.stderr and "revision: sentiment--" in second.stderr
    assert second.stdout.strip().startswith("https://127.0.0.1:")
    revisions = aca.revisions[(RG, "sentiment")]
    assert len(revisions) == 2 and sum(r["properties"]["active"] for r in revisions.values()) == 1
    assert len(aca.running_containers(RG, "sentiment")) == 1  # the old revision's replica is gone

    status = cli("status", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--json")
    assert status.exit_code == 0, status.stderr
    assert status.json["detail"]["revision"] == status.json["detail"]["latest_ready_revision"]
    assert [r["state"] for r in status.json["detail"]["replicas"]] == ["Running"]

    logs = cli("logs", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--tail", "20")
    assert logs.exit_code == 0, logs.stderr
    assert "sentikit: serving " in logs.stdout and "on http://0.0.0.0:8000" in logs.stdout, logs.stdout

    deleted = cli("delete", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--yes",
                  "--environment-too", "--json")
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.json["state"] == "Deleted" and deleted.json["detail"]["environment_state"] == "Deleted"
    assert aca.running_containers(RG, "sentiment") == [] and not aca.environments
    gone = cli("status", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--json")
    assert gone.exit_code == 0 and gone.json["state"] == "NotFound"


def test_cli_bad_containerapps_input_is_one_line_exit_2(aca: Any, azure_env: Any, cli: Any) -> None:
    azure_env(aca.arm)
    base = ["deploy", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--image", "x:1"]
    refused = cli(*base, "--min-replicas", "-1")  # typer's own range check
    assert refused.exit_code == 2 and "--min-replicas" in refused.stderr
    for extra, message in ((["--cpu", "0.3"], "allows vCPU/GiB pairs"), (["--environment", "Bad"], "invalid --environment"),
                           (["--image", "sentiacr01.azurecr.io/x:1"], "--registry-identity")):
        result = cli(*base, *extra)
        assert result.exit_code == 2, (extra, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not [r for r in aca.arm.requests if "Microsoft.App" in r.path]


@pytest.mark.docker
@pytest.mark.slow
def test_a_revision_that_cannot_pull_fails_with_the_reason_and_the_old_revision_keeps_serving(
    make_standin: Any, azure_env: Any, cli: Any, pushed_app: str, registry: Any, docker_client: Any
) -> None:
    arm = make_standin(docker=True)
    arm.seed_registry(RG, "sentiacr01", admin_user_enabled=True)
    ContainerAppsStandIn(arm, docker_client=docker_client)
    azure_env(arm)
    args = ["deploy", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--registry", "sentiacr01",
            "--timeout", "120"]
    assert cli(*args, "--image", pushed_app).exit_code == 0
    missing = pushed_app.rsplit(":", 1)[0] + ":no-such-tag"
    failed = cli(*args, "--image", missing)
    assert failed.exit_code == 4, failed.stderr
    assert "ContainerAppOperationError: Failed to provision revision for container app 'sentiment'" in failed.stderr
    assert f"hint: check that {missing} exists" in failed.stderr
    assert "still serves the traffic" in failed.stderr
    assert registry.password not in failed.stderr and "Traceback" not in failed.stderr
    status = cli("status", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--json")
    assert status.json["detail"]["latest_ready_revision"] != status.json["detail"]["revision"]


def test_no_wait_returns_once_azure_accepted(aca: Any, azure_env: Any, cli: Any) -> None:
    azure_env(aca.arm)
    result = cli("deploy", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--image", "x:1",
                 "--no-wait", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["state"] == "InProgress" and result.json["detail"]["waited"] is False
    assert not aca.arm.calls("GET", "/containerappOperationStatuses/")


def test_a_foreign_subscription_is_an_error_not_notfound(aca: Any, azure_env: Any, cli: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    azure_env(aca.arm)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "99999999-2222-3333-4444-555555555555")
    for command in (["status"], ["delete", "--yes"]):
        result = cli(*command, "--target", "containerapps", "--name", "sentiment", "-g", RG)
        assert result.exit_code == 4, result.stderr
        assert "SubscriptionNotFound" in result.stderr


def test_microsoft_app_unregistered_is_registered_visibly_or_says_how(make_standin: Any, context_factory: Any) -> None:
    import warnings

    from sentikit.errors import ArmError

    arm = make_standin()
    ContainerAppsStandIn(arm)
    arm.providers["Microsoft.App"] = "NotRegistered"
    ctx = context_factory(arm)
    spec = ContainerAppSpec(name="sentiment", resource_group=RG, image="sentikit-sentiment:1")
    with pytest.warns(UserWarning, match="not registered for Microsoft.App yet"):
        deploy_container_app(ctx, spec, smoke_test=False)
    assert arm.calls("POST", "/providers/Microsoft.App/register") and arm.providers["Microsoft.App"] == "Registered"

    locked = make_standin(can_register_providers=False)
    ContainerAppsStandIn(locked)
    locked.providers["Microsoft.App"] = "NotRegistered"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ArmError, match="az provider register --namespace Microsoft.App"):
            deploy_container_app(context_factory(locked), spec, smoke_test=False)


def test_throttled_calls_are_retried_after_the_servers_delay(aca: Any, ctx: Any) -> None:
    aca.arm.fail("PUT", "/containerApps/sentiment", 429, "TooManyRequests", "Too many requests.", retry_after=1, count=1)
    aca.arm.fail("POST", "/containerApps/sentiment/getAuthtoken", 429, "TooManyRequests", retry_after=1, count=1)
    spec = ContainerAppSpec(name="sentiment", resource_group=RG, image="sentikit-sentiment:1")
    assert deploy_container_app(ctx, spec, smoke_test=False).state == "Running"
    assert [c.status for c in _app_calls(aca, "PUT", "/containerApps/sentiment")] == [429, 201]
    assert container_app_logs(ctx, resource_group=RG, name="sentiment") == ""  # no Docker: empty replica logs
    assert [c.status for c in aca.arm.calls("POST", "/getAuthtoken")] == [429, 200]
