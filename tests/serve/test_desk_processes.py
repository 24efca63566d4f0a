"""The desk against real `sentikit serve --monitor` processes: restarts, two workers, kill -9, and the
lingering close that lets a naive client read its 413."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

HAPPY = ["What a lovely stay, the host was wonderful", "Great food and friendly staff, loved it",
         "Spotless flat, perfect location, would come back"]
ANGRY = ["Terrible service, rude staff, never again", "Awful, the flight was cancelled and no refund",
         "Worst experience ever, dirty room and rude people"]


def call(url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def batch(start: int, count: int, texts: list[str]) -> dict[str, Any]:
    return {"posts": [{"id": f"p{i}", "text": texts[i % len(texts)], "source": "test"}
                      for i in range(start, start + count)]}


def desk_args(model_dir: Path, store: Path, *extra: str) -> list[str]:
    return [str(model_dir), "--monitor", "--store", str(store), "--alert-below", "0.4", "--window", "20",
            "--no-access-log", *extra]


def stored_ids(store: Path) -> list[str]:
    with sqlite3.connect(store) as db:
        return [r[0] for r in db.execute("SELECT id FROM posts")]


def test_a_restart_keeps_the_history_and_the_state(start_server: Any, model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "monitor.db"
    server = start_server(*desk_args(model_dir, store))
    call(server.url, "/v1/posts", batch(0, 20, HAPPY))
    assert call(server.url, "/v1/posts", batch(20, 20, ANGRY))["state"] == "alert"
    before = call(server.url, "/v1/monitor/state"), call(server.url, "/v1/monitor/alerts")
    code, stderr = server.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM) and "Traceback" not in stderr  # uvicorn re-raises the SIGTERM it handled
    again = start_server(*desk_args(model_dir, store))
    assert (call(again.url, "/v1/monitor/state"), call(again.url, "/v1/monitor/alerts")) == before
    assert before[0]["alerts"] == 1 and before[0]["posts"] == 40
    answer = call(again.url, "/v1/posts", batch(40, 5, ANGRY))  # still below: the crossing was alerted already
    assert answer["state"] == "alert" and call(again.url, "/v1/monitor/state")["alerts"] == 1


def test_two_workers_raise_one_alert_and_answer_one_state(start_server: Any, model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "monitor.db"
    server = start_server(*desk_args(model_dir, store, "--workers", "2"))
    call(server.url, "/v1/posts", batch(0, 20, HAPPY))
    errors: list[BaseException] = []

    def send(start: int) -> None:
        try:
            for offset in range(0, 40, 10):  # new connections each time: the kernel spreads them over the workers
                call(server.url, "/v1/posts", batch(start + offset, 10, ANGRY))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(20 + 40 * k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    states = [call(server.url, "/v1/monitor/state") for _ in range(12)]
    assert all(state == states[0] for state in states)
    assert (states[0]["state"], states[0]["alerts"], states[0]["posts"]) == ("alert", 1, 180)
    assert len(call(server.url, "/v1/monitor/alerts")["alerts"]) == 1
    assert len(set(stored_ids(store))) == len(stored_ids(store)) == 180


def test_kill_9_loses_no_acknowledged_post_and_a_retry_stores_nothing_twice(
    start_server: Any, model_dir: Path, tmp_path: Path,
) -> None:
    store = tmp_path / "monitor.db"
    server = start_server(*desk_args(model_dir, store))
    batches = [batch(i * 25, 25, HAPPY if i < 20 else ANGRY) for i in range(80)]  # one turn, at batch 20
    acknowledged: list[str] = []
    killed = threading.Event()

    def client() -> None:
        for number, body in enumerate(batches):
            try:
                call(server.url, "/v1/posts", body)
            except OSError:
                return  # the server is gone
            acknowledged.extend(post["id"] for post in body["posts"])
            if number == 30:
                killed.set()

    thread = threading.Thread(target=client)
    thread.start()
    killed.wait(60)
    server.process.send_signal(signal.SIGKILL)
    thread.join(60)
    server.process.communicate()
    assert 31 * 25 <= len(acknowledged) < 80 * 25  # killed during the ingest
    assert set(acknowledged) <= set(stored_ids(store))  # every 2xx was committed
    again = start_server(*desk_args(model_dir, store))
    retried = [call(again.url, "/v1/posts", body) for body in batches]  # the client retries everything
    assert sum(r["duplicates"] for r in retried) == len(stored_ids(store)) - sum(r["accepted"] for r in retried)
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) == 80 * 25
    state = call(again.url, "/v1/monitor/state")
    assert (state["posts"], state["alerts"], state["state"]) == (2000, 1, "alert")


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_client_that_sends_a_whole_oversized_body_reads_the_413(start_server: Any, model_dir: Path,
                                                                  parser: str) -> None:
    server = start_server(str(model_dir), "--max-body-bytes", "10000", "--no-access-log",
                          env={"SENTIKIT_SERVER_HTTP": parser})
    body = json.dumps({"texts": ["x" * 1000] * 3000}).encode()  # 3 MB, all sent before reading
    parts = urlsplit(server.url)
    for _ in range(2):
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        connection.request("POST", "/v1/score", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "body_too_large"
        assert response.getheader("connection") == "close"
        connection.close()
    answer = requests.post(server.url + "/v1/score", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
    # the server still answers, and a normal request on a new connection is unaffected
    assert requests.post(server.url + "/v1/score", json={"texts": ["fine"]}, timeout=30).status_code == 200
    code, stderr = server.stop()
    assert code in (0, -signal.SIGTERM) and "Traceback" not in stderr  # uvicorn re-raises the SIGTERM it handled


@pytest.mark.parametrize(("args", "message"), [
    (["--monitor"], "serve --monitor needs --alert-below"),
    (["--monitor", "--alert-below", "0.4"], "give exactly one of --window N and --window-seconds S"),
    (["--monitor", "--alert-below", "0.4", "--window", "5", "--min-count", "9"], "--min-count 9 is larger than --window 5"),
    (["--monitor", "--alert-below", "1.5", "--window", "5"], "--alert-below must be between 0 and 1"),
    (["--monitor", "--alert-below", "0.4", "--window", "5", "--webhook", "ftp://x"], "--webhook must be an http(s) URL"),
    (["--monitor", "--alert-below", "0.4", "--window", "5", "--store", "/no/such/dir/m.db"], "directory /no/such/dir does not exist"),
])
def test_bad_desk_settings_are_one_line_errors_before_serving(cli: Any, model_dir: Path, args: list[str],
                                                               message: str) -> None:
    result = cli("serve", str(model_dir), *args, "--port", "1")
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_store_from_a_newer_sentikit_stops_the_server_in_one_line(cli: Any, model_dir: Path, tmp_path: Path) -> None:
    from sentikit.monitor.store import open_store

    open_store(tmp_path / "m.db").close()
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    result = cli("serve", str(model_dir), *desk_args(model_dir, tmp_path / "m.db")[1:], "--port", "1")
    assert result.exit_code == 2 and "schema version 7, newer than this sentikit reads (1)" in result.stderr


def test_the_image_entry_point_takes_the_desk_from_the_environment(start_server: Any, model_dir: Path,
                                                                  tmp_path: Path) -> None:
    env = {"SENTIKIT_MODEL_PATH": str(model_dir), "SENTIKIT_MONITOR": "1", "SENTIKIT_MONITOR_STORE": str(tmp_path / "d.db"),
           "SENTIKIT_MONITOR_ALERT_BELOW": "0.4", "SENTIKIT_MONITOR_WINDOW": "3", "SENTIKIT_MONITOR_RETENTION_DAYS": "30"}
    server = start_server(env=env, module=True)  # python -m sentikit.serve, as the container runs it
    assert call(server.url, "/v1/posts", batch(0, 3, ANGRY))["state"] == "alert"
    state = call(server.url, "/v1/monitor/state")
    assert state["rules"]["window"] == 3 and state["alerts"] == 1
    assert stored_ids(tmp_path / "d.db") == ["p0", "p1", "p2"]
