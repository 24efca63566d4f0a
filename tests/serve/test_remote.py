"""sentikit.remote.RemoteScorer against real `sentikit serve` processes (and a flaky stand-in)."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from sentikit.remote import RemoteScorer
from sentikit.errors import ServerError
from sentikit.model import load_model

# Real server processes (and a stand-in HTTP server).
pytestmark = pytest.mark.slow


def test_remote_scorer_matches_local_scores(start_server: Any, model_dir: Path, sample_texts: list[str]) -> None:
    server = start_server(str(model_dir), "--no-access-log")
    with RemoteScorer(server.url.removeprefix("http://"), batch_size=4) as remote:
        assert remote.score([]) == []
        assert remote.score(sample_texts) == load_model(model_dir).score(sample_texts)
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



def test_remote_scorer_connection_refused_names_the_url(free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}"
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



def test_remote_scorer_rides_out_a_server_restart(start_server: Any, model_dir: Path, sample_texts: list[str]) -> None:
    first = start_server(str(model_dir), "--no-access-log")
    port = int(first.url.rsplit(":", 1)[1])
    with RemoteScorer(first.url) as remote:
        expected = remote.score(sample_texts)
        first.stop()
        restart = threading.Timer(0.2, lambda: start_server(str(model_dir), "--no-access-log", port=port))
        restart.start()
        assert remote.score(sample_texts) == expected  # refused at first, answered after a retry
        restart.join()

