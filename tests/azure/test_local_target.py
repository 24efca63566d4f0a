"""The same deploy/status/logs/delete commands with --target local (sentikit.local_deploy)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.docker


def test_local_target_round_trip(cli: Any, probe_image: str, free_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"sentikit-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MY_API_KEY", "local-key-0123456789")
    try:
        result = cli("deploy", "--target", "local", "--name", name, "--image", probe_image, "--port", str(free_port),
                     "--api-key-env", "MY_API_KEY", "--json")
        assert result.exit_code == 0, result.stderr
        assert result.json["target"] == "local"
        assert result.json["url"] == f"http://127.0.0.1:{free_port}"
        assert result.json["detail"]["smoke_test"]["score"] == 0.875  # the key reached the container
        assert "local-key-0123456789" not in result.stdout + result.stderr

        status = cli("status", "--target", "local", "--name", name, "--json")
        assert status.exit_code == 0 and status.json["url"] == f"http://127.0.0.1:{free_port}"
        logs = cli("logs", "--target", "local", "--name", name, "--tail", "1")
        assert logs.stdout == "probe POST /v1/score 200\n"
    finally:
        deleted = cli("delete", "--target", "local", "--name", name, "--yes", "--json")
    assert deleted.exit_code == 0 and deleted.json["state"] == "Deleted"
    assert cli("status", "--target", "local", "--name", name, "--json").json["state"] == "NotFound"
