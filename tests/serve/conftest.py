"""Fixtures for the REST API: in-process apps, real `sentikit serve` processes on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from conftest import free_port, wait_ready

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; httpx still works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from sentikit.model import SentimentModel, load_model
from sentikit.config import ServerLimits
from sentikit.server import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dir(trained_model_dir: Path) -> Path:
    """The session's real trained model (pipeline, exported scorer, manifest)."""
    assert (trained_model_dir / "scorer.json").is_file()
    return trained_model_dir


@pytest.fixture
def sample_texts() -> list[str]:
    """A few texts of every kind: positive, negative, negated, accented and emoji, very short."""
    return ["The host was lovely and the flat spotless", "Terrible service, never again", "Not bad at all",
            "Cold food, rude staff", "Café au lait was perfect ☕", "meh"]


@pytest.fixture
def model(model_dir: Path) -> SentimentModel:
    return load_model(model_dir)


AppClient = Callable[..., TestClient]


@pytest.fixture
def make_client(model: SentimentModel) -> Iterator[AppClient]:
    """``make_client(limits=..., api_key=..., cors_origins=...)``: a started in-process app."""
    clients: list[TestClient] = []

    def make(**options: Any) -> TestClient:
        client = TestClient(create_app(model, **options), raise_server_exceptions=False)
        client.__enter__()  # runs the lifespan: model loaded and warmed
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppClient) -> TestClient:
    return make_client(limits=ServerLimits(max_text_chars=200, max_batch=5, max_body_bytes=4096))


@dataclass
class Server:
    """A real server process and where it listens."""

    process: subprocess.Popen[str]
    url: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, str]:
        """Send ``sig`` (0: none, just wait), wait, and return (exit code, everything written to stderr)."""
        if sig and self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"server did not exit within {timeout}s:\n{err}") from None
        return self.process.returncode, err



StartServer = Callable[..., Server]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """``start_server(*args, env=..., module=False)``: ``sentikit serve ARGS`` (or ``python -m sentikit.server``)
    on a free 127.0.0.1 port, returned once /readyz answers 200."""
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, module: bool = False, wait: bool = True,
              port: int | None = None) -> Server:
        port = port or free_port()
        environ = {**os.environ, **(env or {}), "NO_COLOR": "1"}
        if module:
            environ["SENTIKIT_SERVER_PORT"] = str(port)
            command = [sys.executable, "-m", "sentikit.server"]
        else:
            command = [sys.executable, "-m", "sentikit", "serve", *args, "--port", str(port)]
        process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        server = Server(process, f"http://127.0.0.1:{port}")
        servers.append(server)
        if wait:
            wait_ready(server.url + "/readyz", process=process)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()
