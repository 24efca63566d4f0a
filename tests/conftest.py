"""Shared fixtures and helpers: an isolated environment per test, a CLI driver, a small real model,
and the one ``free_port``/``wait_ready`` (import them: ``from conftest import free_port, wait_ready``)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

# `import conftest` from a test module or plugin gets this module, not a second copy of it.
sys.modules.setdefault("conftest", sys.modules[__name__])

# Docker engine, base image, local registry and built-image fixtures (tests/docker, tests/azure).
pytest_plugins = ["_docker_fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, *, timeout: float = 60.0, process: Optional[subprocess.Popen[Any]] = None) -> float:
    """Poll ``url`` until it answers 200 and return the seconds it took.

    With ``process``, fail at once (with its stderr) if it exits first.
    """
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            stderr = process.communicate()[1] if process.stderr else ""
            raise AssertionError(f"server exited with {process.returncode} before {url} answered:\n{stderr}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s: {last}")


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(ca, cert, key) for 127.0.0.1 from the ARM stand-in's certificate maker (tests/azure/arm_standin.py)."""
    import importlib.util

    name = "sentikit_tests_arm_standin"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "azure" / "arm_standin.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module.make_tls_files(directory)  # type: ignore[no-any-return]


@contextmanager
def live_server(model_dir: Path, *args: str) -> Iterator[str]:
    """``sentikit serve MODEL_DIR ARGS`` on a free port (no access log): yields its URL once ready, and
    fails the test if the server wrote a traceback."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sentikit", "serve", str(model_dir), "--port", str(port), "--no-access-log", *args],
        env={**os.environ, "NO_COLOR": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", process=process)
        yield url
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
        assert "Traceback" not in stderr, stderr


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A free 127.0.0.1 port for this test."""
    return free_port()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SENTIKIT_*/AZURE_* settings or config files leak into a test; cwd is a temp dir."""
    for key in list(os.environ):
        if key.startswith(("SENTIKIT_", "AZURE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, stdin: str = "") -> CliResult:
    """Run ``sentikit`` in process through the real entry point (error mapping included)."""
    from sentikit.cli import main
    from sentikit.cli.render import console

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    old_file = console.file
    console.file = err
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_stdin
        console.file = old_file
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Any:
    return run_cli


@pytest.fixture(scope="session")
def small_training_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, small slice of the UCI sentences (600 rows), as a headerless TSV."""
    from _datasets import corpus_rows

    rows = [f"{text}\t{label}" for source in ("uci-amazon", "uci-yelp", "uci-imdb") for text, label in corpus_rows(source)[:200]]
    path = tmp_path_factory.mktemp("data") / "small.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory, small_training_file: Path) -> Path:
    """A real model trained once per session on ``small_training_file``."""
    from sentikit.data import load_dataset
    from sentikit.train import train_model

    workspace = tmp_path_factory.mktemp("workspace")
    result = train_model(load_dataset([small_training_file]), workspace=workspace, name="sentiment", seed=7)
    return result.model.path


@pytest.fixture
def trained_model(trained_model_dir: Path) -> Iterator[Any]:
    from sentikit.model import load_model

    yield load_model(trained_model_dir)
