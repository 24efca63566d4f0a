"""The desk's routes in-process (POST /v1/posts, GET /v1/monitor/*): answers, refusals, the 404 hint."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sentikit.config import ServerLimits
from sentikit.monitor import MonitorConfig
from sentikit.monitor.desk import DeskOptions

DESK_PATHS = ["/v1/monitor/state", "/v1/monitor/alerts", "/v1/monitor/posts", "/v1/monitor/summary",
              "/v1/monitor/drivers", "/v1/monitor/sources"]
HAPPY = ["What a lovely stay, the host was wonderful", "Great food and friendly staff, loved it"]
ANGRY = ["Terrible service, rude staff, never again", "Awful, the flight was cancelled and no refund"]


@pytest.fixture
def desk_options(tmp_path: Path) -> DeskOptions:
    return DeskOptions(str(tmp_path / "monitor.db"), MonitorConfig(alert_below=0.4, window=4))


@pytest.fixture
def desk_client(make_client: Any, desk_options: DeskOptions) -> Any:
    return make_client(limits=ServerLimits(max_text_chars=300, max_batch=20, max_body_bytes=20_000), monitor=desk_options)


def post(client: Any, *posts: dict[str, Any], **headers: str) -> Any:
    return client.post("/v1/posts", json={"posts": list(posts)}, headers=headers)


def stored(desk_options: DeskOptions) -> int:
    with sqlite3.connect(desk_options.store) as db:
        return int(db.execute("SELECT COUNT(*) FROM posts").fetchone()[0])


def test_without_monitor_the_desk_routes_answer_404_with_a_hint(client: Any) -> None:
    for method, path in [("POST", "/v1/posts"), *(("GET", p) for p in DESK_PATHS)]:
        response = client.request(method, path, json={"posts": [{"text": "hi"}]} if method == "POST" else None)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error["code"] == "monitor_off" and "--monitor" in error["message"] and "\n" not in error["message"]


def test_posts_are_scored_stored_and_windowed(desk_client: Any, desk_options: DeskOptions) -> None:
    first = post(desk_client, *({"id": f"h{i}", "text": t, "source": "x", "url": "https://x.example/1"}
                                for i, t in enumerate(HAPPY)))
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"accepted", "duplicates", "ids", "scores", "labels", "state"}
    assert (body["accepted"], body["duplicates"], body["ids"], body["labels"], body["state"]) == (
        2, 0, ["h0", "h1"], ["positive", "positive"], "warming")
    assert body["scores"] == desk_client.post("/v1/score", json={"texts": HAPPY}).json()["scores"]
    lines = "".join(json.dumps({"id": f"a{i}", "text": t, "timestamp": 1_700_000_000 + i}) + "\n"
                    for i, t in enumerate(ANGRY * 2))
    turned = desk_client.post("/v1/posts", content=lines + "\n", headers={"Content-Type": "application/x-ndjson"})
    assert turned.status_code == 200 and turned.json()["accepted"] == 4 and turned.json()["state"] == "alert"
    retried = desk_client.post("/v1/posts", content=lines, headers={"Content-Type": "application/x-ndjson"})
    assert (retried.json()["accepted"], retried.json()["duplicates"]) == (0, 4)
    state = desk_client.get("/v1/monitor/state").json()
    assert (state["state"], state["posts"], state["alerts"], state["window"]["count"]) == ("alert", 6, 1, 4)
    assert state["window"]["negative_share"] == 1.0 and state["since"] == "2023-11-14T22:13:22.000Z"  # a2: h1, a0, a1, a2 in the window
    alerts = desk_client.get("/v1/monitor/alerts").json()["alerts"]
    assert [(a["kind"], a["post_id"]) for a in alerts] == [("alert", "a2")]
    assert {p["id"] for p in alerts[0]["negative_posts"]} == {"a0", "a1", "a2"}
    worst = desk_client.get("/v1/monitor/posts", params={"order": "score", "limit": 2}).json()["posts"]
    assert len(worst) == 2 and all(p["label"] == "negative" for p in worst)
    happy = desk_client.get("/v1/monitor/posts", params={"source": "x"}).json()["posts"]
    assert [(p["id"], p["url"]) for p in happy] == [("h1", "https://x.example/1"), ("h0", "https://x.example/1")]
    assert desk_client.get("/v1/monitor/sources").json() == {"sources": ["x"]}
    query = {"bucket": "1d", "since": "2023-01-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"}
    summary = desk_client.get("/v1/monitor/summary", params=query).json()
    assert [(b["count"], b["negative_share"]) for b in summary["buckets"]] == [(4, 1.0)]
    assert stored(desk_options) == 6


@pytest.mark.parametrize(("bad", "status", "field"), [
    ({"text": ""}, 400, "posts[1].text"),
    ({"text": 5}, 422, "posts[1].text"),
    ({"id": "x"}, 400, "posts[1]"),
    ({"text": "ok", "timestamp": "yesterday"}, 422, "posts[1].timestamp"),
    ({"text": "ok", "timestamp": "2026-02-30T10:00:00Z"}, 422, "posts[1].timestamp"),
    ({"text": "ok", "timestamp": -5}, 422, "posts[1].timestamp"),
    ({"text": "ok", "timestamp": 1e300}, 422, "posts[1].timestamp"),
    ({"text": "ok", "timestamp": "2999-01-01T00:00:00Z"}, 422, "posts[1].timestamp"),  # ahead of the clock
    ({"text": "ok", "url": "javascript:alert(1)"}, 422, "posts[1].url"),
    ({"text": "ok", "source": ["a"]}, 422, "posts[1].source"),
    ({"text": "ok", "id": "x" * 201}, 413, "posts[1].id"),
    ({"text": "ok", "colour": "red"}, 422, "posts[1]"),
    ({"text": "x" * 301}, 413, "posts[1].text"),
    ("just a string", 422, "posts[1]"),
])
def test_a_batch_with_one_bad_post_is_refused_whole(desk_client: Any, desk_options: DeskOptions, bad: Any,
                                                    status: int, field: str) -> None:
    response = post(desk_client, {"id": "good", "text": "A fine day"}, bad)
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(field)
    assert stored(desk_options) == 0


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b'{"posts": []}', "application/json", 400, "empty_batch"),
    (b'{"texts": ["a"]}', "application/json", 422, "unknown_field"),
    (b'{"posts": {"text": "a"}}', "application/json", 422, "invalid_type"),
    (b'{}', "application/json", 400, "missing_field"),
    (b"{not json", "application/json", 400, "invalid_json"),
    (b'{"text": "a"}\n{oops\n', "application/x-ndjson", 400, "invalid_json"),
    (b"\n\n", "application/x-ndjson", 400, "empty_batch"),
    (b'{"text": "a"}\n[1]\n', "application/jsonl", 422, "invalid_type"),
    (b"text=a", "text/plain", 415, "unsupported_media_type"),
    (json.dumps({"posts": [{"text": "a"}] * 21}).encode(), "application/json", 413, "batch_too_large"),
    (b"x" * 20_001, "application/x-ndjson", 413, "body_too_large"),
])
def test_bad_bodies_are_4xx_json(desk_client: Any, body: bytes, content_type: str, status: int, code: str) -> None:
    response = desk_client.post("/v1/posts", content=body, headers={"Content-Type": content_type})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize(("path", "query", "code"), [
    ("/v1/monitor/posts", {"order": "best"}, "invalid_order"),
    ("/v1/monitor/posts", {"limit": "0"}, "invalid_limit"),
    ("/v1/monitor/posts", {"limit": "abc"}, "invalid_limit"),
    ("/v1/monitor/alerts", {"limit": "1001"}, "invalid_limit"),
    ("/v1/monitor/summary", {"bucket": "2h"}, "invalid_bucket"),
    ("/v1/monitor/summary", {"since": "last week"}, "invalid_time"),
    ("/v1/monitor/drivers", {"until": "nan"}, "invalid_time"),
    ("/v1/monitor/state", {"verbose": "1"}, "unknown_parameter"),
])
def test_bad_queries_are_422_json(desk_client: Any, path: str, query: dict[str, str], code: str) -> None:
    response = desk_client.get(path, params=query)
    assert (response.status_code, response.json()["error"]["code"]) == (422, code)


def test_times_and_text_that_json_allows_are_stored(desk_client: Any) -> None:
    body = {"posts": [{"id": 7, "text": "lone \ud800 surrogate", "timestamp": 1_700_000_000_000},
                      {"text": "iso", "timestamp": "2023-11-14T22:13:20+01:00"},
                      {"text": "epoch text", "timestamp": "1700000000.5"}]}
    answer = desk_client.post("/v1/posts", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json()["ids"][0] == "7"
    posts = desk_client.get("/v1/monitor/posts", params={"order": "recent"}).json()["posts"]
    assert [(p["text"], p["timestamp"]) for p in posts] == [
        ("epoch text", "2023-11-14T22:13:20.500Z"), ("lone \ufffd surrogate", "2023-11-14T22:13:20.000Z"),
        ("iso", "2023-11-14T21:13:20.000Z")]


def test_the_desk_takes_the_api_key_like_the_rest_of_the_api(make_client: Any, desk_options: DeskOptions) -> None:
    client = make_client(api_key="s3cret", monitor=desk_options)
    assert post(client, {"text": "hello"}).status_code == 401
    assert client.get("/v1/monitor/state").status_code == 401
    assert post(client, {"text": "hello"}, **{"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/v1/monitor/state", headers={"Authorization": "Bearer s3cret"}).json()["posts"] == 1


def test_the_state_of_an_empty_desk(desk_client: Any) -> None:
    state = desk_client.get("/v1/monitor/state").json()
    assert state["state"] == "warming" and state["since"] is None and state["posts"] == 0 and state["alerts"] == 0
    assert state["window"] == {"count": 0, "mean": None, "negative_share": None, "start": None, "end": None}
    assert state["rules"]["alert_below"] == 0.4 and state["rules"]["window"] == 4
    assert desk_client.get("/v1/monitor/drivers").json()["drivers"] == []
    assert desk_client.get("/v1/monitor/summary").json() == {"bucket": "1h", "buckets": []}
