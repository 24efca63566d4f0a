"""Real server processes: `sentikit serve`, `python -m sentikit.server` (the container), workers, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sentikit.remote import RemoteScorer
from sentikit.model import load_model

# Every test here starts real server processes.
pytestmark = pytest.mark.slow



def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_sentikit_serve_answers_and_stops_cleanly_on_sigterm(start_server: Any, model_dir: Path, sample_texts: list[str]) -> None:
    server = start_server(str(model_dir), "--max-text-chars", "100")
    model = load_model(model_dir)
    status, body = get(server.url + "/analyze?text=" + urllib.parse.quote(sample_texts[0]))
    assert status == 200 and float(body) == model.score([sample_texts[0]])[0]
    status, body = get(server.url + "/analyze?text=" + "a" * 101)
    assert status == 413 and json.loads(body)["error"]["code"] == "text_too_long"
    code, stderr = server.stop(signal.SIGTERM)
    # uvicorn finishes in-flight requests and the lifespan, then re-raises the signal so the
    # exit status still says what stopped the process (143 in a shell, -15 here).
    assert code == -signal.SIGTERM, stderr
    assert stderr.rstrip().endswith("Finished server process [%d]" % server.process.pid)
    assert "Application shutdown complete" in stderr
    assert f"serving {model.reference} ({model_dir}) on {server.url}" in stderr.replace("\n", " ")
    assert "Traceback" not in stderr


def test_sentikit_serve_with_two_workers(start_server: Any, model_dir: Path, sample_texts: list[str]) -> None:
    server = start_server(str(model_dir), "--workers", "2", "--max-batch", "3", "--no-access-log")
    with RemoteScorer(server.url) as remote:
        assert remote.model_info()["limits"]["max_batch"] == 3
        assert remote.score(sample_texts) == load_model(model_dir).score(sample_texts)  # 6 texts in batches of 3
    code, stderr = server.stop()
    assert code == 0, stderr


def test_container_entrypoint_reads_the_environment(start_server: Any, model_dir: Path) -> None:
    server = start_server(module=True, env={"SENTIKIT_MODEL_PATH": str(model_dir), "SENTIKIT_API_KEY": "k",
                                            "SENTIKIT_SERVER_MAX_BATCH": "2"})
    assert get(server.url + "/healthz")[0] == 200
    assert get(server.url + "/analyze?text=good")[0] == 401
    status, body = get(server.url + "/v1/model", {"x-api-key": "k"})
    assert status == 200 and json.loads(body)["limits"]["max_batch"] == 2
    code, stderr = server.stop(signal.SIGTERM)  # docker stop
    assert code == -signal.SIGTERM and "Application shutdown complete" in stderr


def test_container_entrypoint_without_a_model_fails_clearly(start_server: Any, tmp_path: Path) -> None:
    server = start_server(module=True, wait=False, env={"SENTIKIT_MODEL_PATH": str(tmp_path)})
    code, stderr = server.stop(sig=0, timeout=30)
    assert code == 2
    assert stderr.strip() == f"error: {tmp_path} is not a sentikit model directory (no manifest.json)"


def test_serve_with_unknown_model_is_a_usage_error(cli: Any) -> None:
    result = cli("serve", "nosuchmodel")
    assert result.exit_code == 2
    assert "no model named 'nosuchmodel'" in result.stderr



def test_workers_get_their_settings_without_touching_the_callers_environment(model_dir: Path, free_port: int) -> None:
    """run_server with 2 workers, in a process that checks its own os.environ while the workers serve."""
    code = textwrap.dedent(f"""
        import json, os, signal, threading, time, urllib.request
        from pathlib import Path
        from sentikit.config import load_settings, replace
        from sentikit.model import load_model
        from sentikit.server import run_server
        before = dict(os.environ)
        seen = {{}}
        def probe():
            for _ in range(300):
                try:
                    with urllib.request.urlopen("http://127.0.0.1:{{port}}/v1/model", timeout=1) as r:
                        seen["model"] = json.load(r)
                        break
                except OSError:
                    time.sleep(0.1)
            seen["changed"] = sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))
            os.kill(os.getpid(), signal.SIGTERM)
        port = {{port}}
        threading.Thread(target=probe, daemon=True).start()
        settings = replace(load_settings(), server_port=port, server_workers=2, server_max_batch=7, threshold=0.25)
        run_server(load_model(Path({str(model_dir)!r})), settings, api_key=None)
        print(json.dumps(seen))
    """).replace("{port}", str(free_port))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.splitlines()[-1])
    assert seen["changed"] == []
    assert seen["model"]["limits"]["max_batch"] == 7 and seen["model"]["threshold"] == 0.25
