"""The Node.js client (clients/node), tested with `node --test` against a real `sentikit serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.mark.slow
def test_node_client_against_a_real_server(start_server: Any, model_dir: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is not installed; CI must install it (apt-get install nodejs)")
        pytest.skip("node is not installed (apt-get install nodejs); CI runs this test")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 18, f"the client needs Node >= 18, found {version}"
    server = start_server(str(model_dir), "--max-batch", "2", "--no-access-log", env={"SENTIKIT_API_KEY": "node-key"})
    env = {**os.environ, "SENTIKIT_TEST_URL": server.url, "SENTIKIT_TEST_API_KEY": "node-key"}
    run = subprocess.run([node, "--test", "test/"], cwd=NODE_CLIENT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and "# pass 6" in run.stdout, run.stdout
    server.stop()
