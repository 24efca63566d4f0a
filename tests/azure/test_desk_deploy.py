"""deploy --monitor on the Azure targets (issue 25 §4): what reaches the container as plain values and
as secrets, the replica rule, the warnings, and the smoke test of the desk; against the ARM and
Container Apps stand-ins (no Docker: the request bodies are what is checked) and small real servers."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from sentikit.deploy.desk import POSTGRES_LABEL
from sentikit.deploy.readiness import smoke_test
from sentikit.errors import CheckFailedError

_NAME = "sentikit_tests_containerapps_standin"  # the module test_containerapps.py loads, shared when it did
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parent / "containerapps_standin.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
    _spec.loader.exec_module(sys.modules[_NAME])  # type: ignore[union-attr]
ContainerAppsStandIn = sys.modules[_NAME].ContainerAppsStandIn
RG = "rg-sentikit"


def _app_calls(aca: Any, method: str, contains: str = "/containerApps/") -> list[Any]:
    return [r for r in aca.arm.calls(method, contains) if "/providers/Microsoft.App/" in r.path]


STORE_URL = "postgresql://desk:pg-s3cret-0123456789@db.example:5432/desk"
IMAGE = "registry.example/sentikit-sentiment:1"
UNCHECKED = f"warning: could not check that {IMAGE} has psycopg for the PostgreSQL store ("
WARNING = ("warning: the desk's SQLite store lives in the container and is lost when the {where} restarts or is "
           "re-created; pass --store-url postgresql://... to keep its history")


@pytest.fixture
def azure(arm: Any, azure_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    azure_env(arm)
    monkeypatch.setenv("DESK_STORE", STORE_URL)
    return arm


def _aci(cli: Any, *extra: str) -> Any:
    return cli("deploy", "--target", "azure", "--name", "sentiment", "-g", RG, "--image", IMAGE, "--no-wait",
               "--monitor", "--alert-below", "0.4", "--window", "50", *extra)


def _env_of(arm: Any) -> dict[str, dict[str, str]]:
    body = arm.calls("PUT", "/containerGroups/sentiment")[-1].body
    return {e["name"]: e for e in body["properties"]["containers"][0]["properties"]["environmentVariables"]}


@pytest.fixture(scope="module")
def engine_images(docker_client: Any, base_image: str) -> Iterator[dict[str, str]]:
    """Two small images in the local engine under registry names, as a build then a push leaves them:
    one without the --postgres label (an image built before it), one with it."""
    from _docker_fixtures import RUN_ID, TEST_LABEL, _remove_image, build_from_files

    images = {"plain": f"registry.example/sentikit-test-plain:{RUN_ID}", "postgres": f"registry.example/sentikit-test-pg:{RUN_ID}"}
    for kind, tag in images.items():
        label = f"LABEL {POSTGRES_LABEL}=true\n" if kind == "postgres" else ""
        build_from_files(docker_client, tag, {"Dockerfile": f"FROM {base_image}\nLABEL {TEST_LABEL}={RUN_ID}\n{label}".encode()})
    yield images
    for tag in images.values():
        _remove_image(docker_client, tag)


@pytest.mark.docker
@pytest.mark.parametrize("target", ["azure", "containerapps"])
def test_a_store_url_refuses_an_image_the_engine_has_without_psycopg(cli: Any, azure: Any, target: str,
                                                                    engine_images: dict[str, str]) -> None:
    aca = ContainerAppsStandIn(azure, group_locations={RG: "eastus"})
    args = ["deploy", "--target", target, "--name", "sentiment", "-g", RG, "--no-wait", "--no-smoke-test",
            "--monitor", "--alert-below", "0.4", "--store-url-env", "DESK_STORE", "--json"]
    refused = cli(*args, "--image", engine_images["plain"])
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        f"error: {engine_images['plain']} has no psycopg for the desk's PostgreSQL store (--store-url): "
        "rebuild it with `sentikit build --postgres`")
    assert azure.calls("PUT", "/containerGroups/") == [] and _app_calls(aca, "PUT") == []

    accepted = cli(*args, "--image", engine_images["postgres"])
    assert accepted.exit_code == 0, accepted.stderr
    assert "warning" not in accepted.stderr
    deployed = azure.calls("PUT", "/containerGroups/sentiment") if target == "azure" else \
        _app_calls(aca, "PUT", "/containerApps/sentiment")
    assert len(deployed) == 1 and engine_images["postgres"] in json.dumps(deployed[0].body)


def test_aci_with_sqlite_warns_that_a_restart_loses_the_history(cli: Any, azure: Any) -> None:
    result = _aci(cli, "--json")
    assert result.exit_code == 0, result.stderr
    assert WARNING.format(where="container group") in result.stderr
    env = _env_of(azure)
    assert {name: env[name].get("value") for name in env if name.startswith("SENTIKIT_MONITOR")} == {
        "SENTIKIT_MONITOR": "1", "SENTIKIT_MONITOR_ALERT_BELOW": "0.4", "SENTIKIT_MONITOR_WINDOW": "50",
        "SENTIKIT_MONITOR_STORE": "/data/monitor.db"}


def test_aci_with_a_store_url_passes_it_as_a_secure_value_only(cli: Any, azure: Any) -> None:
    result = _aci(cli, "--store-url-env", "DESK_STORE", "--webhook", "https://hooks.example/T0/B0/xyz", "--json")
    assert result.exit_code == 0, result.stderr
    # the engine here does not have the image: deployed, with one line saying it went unchecked
    assert [line for line in result.stderr.splitlines() if "warning" in line] == [
        line for line in result.stderr.splitlines() if line.startswith(UNCHECKED)]
    assert result.stderr.count("warning") == 1 and "sentikit build --postgres" in result.stderr
    env = _env_of(azure)
    assert env["SENTIKIT_MONITOR_STORE"] == {"name": "SENTIKIT_MONITOR_STORE", "secureValue": STORE_URL}
    assert env["SENTIKIT_MONITOR_WEBHOOK"] == {"name": "SENTIKIT_MONITOR_WEBHOOK", "secureValue": "https://hooks.example/T0/B0/xyz"}
    assert "pg-s3cret" not in result.stdout + result.stderr


def test_containerapps_refuses_replicas_on_sqlite_and_takes_the_url_as_a_secret(cli: Any, azure: Any) -> None:
    aca = ContainerAppsStandIn(azure, group_locations={RG: "eastus"})
    args = ["deploy", "--target", "containerapps", "--name", "sentiment", "-g", RG, "--image", IMAGE,
            "--no-smoke-test", "--monitor", "--alert-below", "0.4", "--min-replicas", "1", "--max-replicas", "3"]
    refused = cli(*args)
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        "error: --max-replicas 3 with --monitor needs a store the replicas share: each replica's SQLite file is its "
        "own, so they would disagree on posts and alerts; pass --store-url postgresql://... or --max-replicas 1")
    assert _app_calls(aca, "PUT") == []  # refused before any call

    shared = cli(*args, "--store-url", STORE_URL, "--json")
    assert shared.exit_code == 0, shared.stderr
    assert "pg-s3cret" not in shared.stdout + shared.stderr
    assert shared.stderr.count("warning") == 1 and UNCHECKED in shared.stderr  # the engine here lacks the image
    assert shared.json["detail"]["monitor_store"] == "PostgreSQL (--store-url, passed as a secret)"
    body = _app_calls(aca, "PUT", "/containerApps/sentiment")[-1].body
    env = {e["name"]: e for e in body["properties"]["template"]["containers"][0]["env"]}
    assert env["SENTIKIT_MONITOR_STORE"] == {"name": "SENTIKIT_MONITOR_STORE", "secretRef": "env-sentikit-monitor-store"}
    assert env["SENTIKIT_MONITOR"] == {"name": "SENTIKIT_MONITOR", "value": "1"}
    secrets = {s["name"]: s["value"] for s in body["properties"]["configuration"]["secrets"]}
    assert secrets["env-sentikit-monitor-store"] == STORE_URL
    assert STORE_URL not in json.dumps([e.get("value") for e in env.values()])

    single = cli(*args[:-4], "--min-replicas", "1", "--max-replicas", "1", "--json")
    assert single.exit_code == 0, single.stderr
    assert WARNING.format(where="replica") in single.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alert-below", "0.4"], "error: --alert-below go with --monitor"),
        (["--monitor"], "error: --monitor needs --alert-below (the rolling mean that raises an alert), e.g. --alert-below 0.4"),
        (["--monitor", "--alert-below", "1.5"], "error: --alert-below must be a number from 0 to 1, got 1.5"),
        (["--monitor", "--alert-below", "0.4", "--recover-above", "0.3"], "error: --recover-above (0.3) is below --alert-below (0.4)"),
        (["--monitor", "--alert-below", "0.4", "--store-url", "mysql://u:pw-do-not-echo@h/db"],
         "error: --store-url must be a PostgreSQL URL, postgresql://USER@HOST[:PORT]/DATABASE (the password in it or in PGPASSWORD)"),
        (["--monitor", "--alert-below", "0.4", "--env", "SENTIKIT_MONITOR_WINDOW=5"],
         "error: SENTIKIT_MONITOR_WINDOW: with --monitor the desk is set by --monitor's own options (--alert-below, --store-url, ...), not by --env"),
        (["--monitor", "--alert-below", "0.4", "--target", "kubernetes", "--render-only", "k8s"],
         "error: --monitor is not available with --target kubernetes yet: the desk needs a store every pod shares "
         "(deploy it with --target containerapps --store-url)"),
    ],
)
def test_bad_desk_options_are_one_line_exit_2(cli: Any, args: list[str], message: str) -> None:
    target = [] if "--target" in args else ["--target", "local"]
    result = cli("deploy", "--name", "sentiment", "--image", IMAGE, *target, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == message
    assert "pw-do-not-echo" not in result.stderr


class _Server(BaseHTTPRequestHandler):
    """A server answering like sentikit's: readiness, a score, and the desk's state (or 404 without the desk)."""

    desk = True

    def do_GET(self) -> None:
        if self.path == "/readyz":
            self._send(200, {"status": "ready"})
        elif self.path == "/v1/monitor/state" and self.desk:
            self._send(200, {"state": "warming", "since": None, "window": {"count": 0}, "posts": 0, "alerts": 0})
        else:
            self._send(404, {"error": {"code": "not_found", "message": "start the server with --monitor"}})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, {"scores": [0.97], "labels": ["positive"]})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(params=[True, False], ids=["desk", "no-desk"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    handler = type("Handler", (_Server,), {"desk": request.param})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", request.param
    finally:
        httpd.shutdown()


def test_the_smoke_test_checks_the_desk_when_it_was_deployed(server: tuple[str, bool]) -> None:
    url, desk = server
    assert "monitor_state" not in smoke_test(url, timeout=5)
    if desk:
        assert smoke_test(url, timeout=5, monitor=True)["monitor_state"] == "warming"
    else:
        with pytest.raises(CheckFailedError, match=r"GET .*/v1/monitor/state answered HTTP 404 \(the image's server has "
                                                   r"no desk: rebuild the image with this sentikit\)"):
            smoke_test(url, timeout=5, monitor=True)


def test_a_store_url_without_an_engine_deploys_with_a_one_line_warning(cli: Any, azure: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = _aci(cli, "--store-url-env", "DESK_STORE", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == (f"{UNCHECKED}no Docker engine to read it from); it needs an image built with "
                                     "`sentikit build --postgres`")
    assert len(azure.calls("PUT", "/containerGroups/sentiment")) == 1
