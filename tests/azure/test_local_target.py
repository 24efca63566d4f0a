"""The same deploy/status/logs/delete commands with --target local (sentikit.deploy.local), with the real serving image."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.docker


def test_local_target_round_trip(cli: Any, serving_image: str, trained_model: Any, free_port: int,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"sentikit-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MY_API_KEY", "local-key-0123456789")
    try:
        result = cli("deploy", "--target", "local", "--name", name, "--image", serving_image, "--port", str(free_port),
                     "--api-key-env", "MY_API_KEY", "--cpu", "0.75", "--memory", "0.5", "--json")
        assert result.exit_code == 0, result.stderr
        assert result.json["target"] == "local"
        assert result.json["url"] == f"http://127.0.0.1:{free_port}"
        smoke = result.json["detail"]["smoke_test"]  # the key reached the container: the score was answered
        assert smoke["score"] == pytest.approx(trained_model.score([smoke["text"]])[0], abs=1e-4)
        assert "local-key-0123456789" not in result.stdout + result.stderr
        assert (result.json["detail"]["cpu"], result.json["detail"]["memory_gb"]) == (0.75, 0.5)

        status = cli("status", "--target", "local", "--name", name, "--json")
        assert status.exit_code == 0 and status.json["url"] == f"http://127.0.0.1:{free_port}"
        logs = cli("logs", "--target", "local", "--name", name, "--tail", "1")
        assert '"POST /v1/score HTTP/1.1" 200' in logs.stdout and len(logs.stdout.splitlines()) == 1
    finally:
        deleted = cli("delete", "--target", "local", "--name", name, "--yes", "--json")
    assert deleted.exit_code == 0 and deleted.json["state"] == "Deleted"
    assert cli("status", "--target", "local", "--name", name, "--json").json["state"] == "NotFound"
