"""GET /metrics: Prometheus counts of requests, errors and texts, in process."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sentikit.server.metrics import Metrics, retire_worker


def test_metrics_count_requests_errors_and_texts(client: Any) -> None:
    client.get("/analyze", params={"text": "good"})
    client.post("/v1/score", json={"texts": ["good", "bad", "fine"]})
    client.get("/analyze")
    client.get("/no/such/route")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert 'sentikit_requests_total{route="/analyze",method="GET",status="200"} 1' in lines
    assert 'sentikit_requests_total{route="/analyze",method="GET",status="400"} 1' in lines
    assert 'sentikit_requests_total{route="/v1/score",method="POST",status="200"} 1' in lines
    assert 'sentikit_requests_total{route="(unmatched)",method="GET",status="404"} 1' in lines
    assert 'sentikit_errors_total{code="missing_text"} 1' in lines
    assert 'sentikit_errors_total{code="not_found"} 1' in lines
    assert "sentikit_texts_scored_total 4" in lines
    assert 'sentikit_request_duration_seconds_bucket{route="/analyze",le="+Inf"} 2' in lines
    assert 'sentikit_request_duration_seconds_count{route="/analyze"} 2' in lines
    assert any(line.startswith('sentikit_model_info{name="sentiment"') for line in lines)
    for line in lines:  # every sample line is `name{labels} number`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])



def test_metrics_files_survive_a_restarted_worker_and_count_once(tmp_path: Path) -> None:
    """Two writers sharing a directory: every count summed once; a retired worker keeps its counts, not its gauges."""
    first, second = Metrics(tmp_path), Metrics(tmp_path)  # same pid: second file replaces first's name
    second.file = None  # only `first` writes a file here; `second` stands for a worker in another process
    for _ in range(3):
        first.observe("/analyze", "GET", 200, 0.001)
    first.observe("/analyze", "BREW", 418, 20.0)  # unknown methods are pooled, slow requests land in +Inf
    totals, gauges = first.snapshot()
    assert totals['requests\t/analyze\tGET\t200'] == 3 and totals['requests\t/analyze\tOTHER\t418'] == 1
    assert list(gauges) == [os.getpid()] and gauges[os.getpid()]["requests_total"] == 4
    retire_worker(tmp_path, os.getpid())
    totals, gauges = first.snapshot()
    assert totals['requests\t/analyze\tGET\t200'] == 3 and gauges == {}


@pytest.mark.slow
def test_two_workers_count_every_request_exactly_once(start_server: Any, model_dir: Path) -> None:
    server = start_server(str(model_dir), "--workers", "2", "--no-access-log")
    for i in range(1000):  # a new connection each: the kernel spreads them over both workers
        with urllib.request.urlopen(f"{server.url}/analyze?text=good+{i}", timeout=10) as response:
            assert response.status == 200
    for scrape in range(4):  # whichever worker answers, it reports the whole server
        lines = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode().splitlines()
        assert 'sentikit_requests_total{route="/analyze",method="GET",status="200"} 1000' in lines
        assert "sentikit_texts_scored_total 1000" in lines
        assert "sentikit_workers 2" in lines
        shares = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("sentikit_process_requests_total{")]
        answered = sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("sentikit_requests_total{"))
        assert answered == 1000 + 1 + scrape  # and the readiness probe, and the earlier scrapes
        assert len(shares) == 2 and min(shares) > 0 and sum(shares) == answered
    assert server.stop()[0] == 0


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_counts_kept(start_server: Any, model_dir: Path) -> None:
    import re
    import signal
    import time

    server = start_server(str(model_dir), "--workers", "2", "--no-access-log")
    for i in range(100):
        urllib.request.urlopen(f"{server.url}/analyze?text=fine+{i}", timeout=10).read()

    def scrape() -> str:
        return str(urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode())

    workers = sorted(set(re.findall(r'sentikit_process_requests_total\{worker="(\d+)"\}', scrape())))
    assert len(workers) == 2
    os.kill(int(workers[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            text = scrape()
            live = set(re.findall(r'sentikit_process_requests_total\{worker="(\d+)"\}', text))
            if len(live) == 2 and workers[0] not in live:
                break
        except OSError:
            pass  # a connection that went to the killed worker's queue
        time.sleep(0.2)
    else:
        raise AssertionError("the killed worker was not replaced within 30 s")
    assert "sentikit_workers 2" in text.splitlines()
    assert 'sentikit_requests_total{route="/analyze",method="GET",status="200"} 100' in text.splitlines()
    code, stderr = server.stop()
    assert code == 0 and f"Worker process [{workers[0]}] exited" in stderr, stderr
