"""Real server processes: `sentikit serve`, `python -m sentikit.serve` (the container), workers, SIGTERM;
and sentikit.client.RemoteScorer against them."""

from __future__ import annotations

import http.server
import json
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sentikit.client import RemoteScorer
from sentikit.errors import ServerError
from sentikit.model import load_model

TEXTS = ["The host was lovely and the flat spotless", "Terrible service, never again", "Not bad at all",
         "Cold food, rude staff", "Café au lait was perfect ☕", "meh"]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_sentikit_serve_answers_and_stops_cleanly_on_sigterm(start_server: Any, model_dir: Path) -> None:
    server = start_server(str(model_dir), "--max-text-chars", "100")
    model = load_model(model_dir)
    status, body = get(server.url + "/analyze?text=" + urllib.parse.quote(TEXTS[0]))
    assert status == 200 and float(body) == model.score([TEXTS[0]])[0]
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


def test_sentikit_serve_with_two_workers(start_server: Any, model_dir: Path) -> None:
    server = start_server(str(model_dir), "--workers", "2", "--max-batch", "3", "--no-access-log")
    with RemoteScorer(server.url) as remote:
        assert remote.model_info()["limits"]["max_batch"] == 3
        assert remote.score(TEXTS) == load_model(model_dir).score(TEXTS)  # 6 texts in batches of 3
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


# --- RemoteScorer -----------------------------------------------------------------------


def test_remote_scorer_matches_local_scores(start_server: Any, model_dir: Path) -> None:
    server = start_server(str(model_dir), "--no-access-log")
    with RemoteScorer(server.url.removeprefix("http://"), batch_size=4) as remote:
        assert remote.score([]) == []
        assert remote.score(TEXTS) == load_model(model_dir).score(TEXTS)
        info = remote.model_info()
        assert info["reference"] == load_model(model_dir).reference
        with pytest.raises(ServerError, match=r"answered 400: texts\[0\] is empty"):
            remote.score([""])
        assert "key" not in repr(remote).lower()
    server.stop()


def test_remote_scorer_api_key_errors(start_server: Any, model_dir: Path) -> None:
    server = start_server(str(model_dir), env={"SENTIKIT_API_KEY": "right"})
    with pytest.raises(ServerError, match="requires an API key: set SENTIKIT_API_KEY"):
        RemoteScorer(server.url).score(["good"])
    with pytest.raises(ServerError, match="rejected the API key"):
        RemoteScorer(server.url, api_key="wrong").score(["good"])
    assert len(RemoteScorer(server.url, api_key="right").score(["good", "bad"])) == 2
    server.stop()


def test_remote_scorer_connection_refused_names_the_url(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    with pytest.raises(ServerError, match=f"cannot connect to a sentikit server at {url}"):
        RemoteScorer(url, timeout=5).score(["good"])


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 (with Retry-After: 0) until ``failures`` is used up, then a valid /v1/score."""

    failures = 0
    requests = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).requests += 1
        texts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["texts"]
        if type(self).failures > 0:
            type(self).failures -= 1
            status, body = 503, {"error": {"code": "unavailable", "message": "warming up"}}
        else:
            status, body = 200, {"scores": [0.5] * len(texts)}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_server() -> Any:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_remote_scorer_retries_unavailable_answers(flaky_server: Any) -> None:
    url = f"http://127.0.0.1:{flaky_server.server_address[1]}"
    _Flaky.failures, _Flaky.requests = 2, 0
    with RemoteScorer(url, batch_size=10, retry_delays=(0.01, 0.01, 0.01)) as remote:
        assert remote.score(["a", "b"]) == [0.5, 0.5]
    assert _Flaky.requests == 3
    _Flaky.failures, _Flaky.requests = 10, 0
    with RemoteScorer(url, batch_size=10, retry_delays=(0.01, 0.01)) as remote:
        with pytest.raises(ServerError, match=r"answered 503 \(after 3 attempts\): warming up"):
            remote.score(["a"])
    assert _Flaky.requests == 3


def test_remote_scorer_rides_out_a_server_restart(start_server: Any, model_dir: Path) -> None:
    first = start_server(str(model_dir), "--no-access-log")
    port = int(first.url.rsplit(":", 1)[1])
    with RemoteScorer(first.url) as remote:
        expected = remote.score(TEXTS)
        first.stop()
        restart = threading.Timer(0.2, lambda: start_server(str(model_dir), "--no-access-log", port=port))
        restart.start()
        assert remote.score(TEXTS) == expected  # refused at first, answered after a retry
        restart.join()
