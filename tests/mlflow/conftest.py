"""A real MLflow tracking server (SQLite backend, artifacts proxied by the server) for the session,
and one running MLflow's basic-auth app; both on 127.0.0.1, started together because each takes
tens of seconds to come up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import free_port, wait_ready

AUTH_ADMIN = "admin"
AUTH_PASSWORD = "sentikit-tests-only-pw"  # a throwaway server's admin password, never a real secret


@dataclass
class MlflowServer:
    url: str
    root: Path  # backend store and --artifacts-destination live here
    process: subprocess.Popen[Any]
    credentials: tuple[str, str] = ("", "")

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"


def _start(root: Path, *, auth: bool) -> MlflowServer:
    root.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no background job workers (~7 processes) on a busy CI machine
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
    if auth:
        command += ["--app-name", "basic-auth"]
        env.update(MLFLOW_AUTH_ADMIN_PASSWORD=AUTH_PASSWORD, MLFLOW_FLASK_SERVER_SECRET_KEY="sentikit-tests")
    log = open(root / "server.log", "wb")
    # its own process group: the server's uvicorn workers stop with it
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return MlflowServer(f"http://127.0.0.1:{port}", root, process, (AUTH_ADMIN, AUTH_PASSWORD) if auth else ("", ""))


def _ready(server: MlflowServer) -> MlflowServer:
    try:
        seconds = wait_ready(f"{server.url}/health", timeout=240, process=server.process)
        print(f"MLflow server {server.url} answered after {seconds:.1f} s")
    except Exception:
        print((server.root / "server.log").read_text(errors="replace")[-4000:])
        raise
    return server


@pytest.fixture(scope="session")
def _mlflow_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MlflowServer]]:
    root = tmp_path_factory.mktemp("mlflow")
    servers = {"plain": _start(root / "plain", auth=False), "auth": _start(root / "auth", auth=True)}
    yield servers
    for server in servers.values():
        _signal_group(server.process, signal.SIGTERM)
    for server in servers.values():
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal_group(server.process, signal.SIGKILL)
            server.process.wait()


def _signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the group the server leads (start_new_session)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def mlflow_server(_mlflow_servers: dict[str, MlflowServer]) -> MlflowServer:
    return _ready(_mlflow_servers["plain"])


@pytest.fixture(scope="session")
def mlflow_auth_server(_mlflow_servers: dict[str, MlflowServer]) -> MlflowServer:
    return _ready(_mlflow_servers["auth"])


@pytest.fixture(autouse=True)
def _no_mlflow_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MLflow server or credential of the machine, or of an earlier test, leaks into a test.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` (which sentikit calls) also write
    ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` into the environment: each is restored after
    the test to what it was before (unset)."""
    for key in {*(k for k in os.environ if k.startswith("MLFLOW_TRACKING_")), "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}:
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
