"""The desk's store and ingest (sentikit.monitor.store, .desk): real SQLite files, the real window rules."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from sentikit.monitor import MonitorConfig, Record, WindowMonitor
from sentikit.monitor.desk import Desk, DeskOptions
from sentikit.monitor.store import NewPost, StoreError, open_store
from sentikit.monitor.sql import SCHEMA_VERSION

T0 = float(int(time.time()) // 300 * 300 - 86_400)  # event times of the posts below: yesterday, on a 5-minute boundary


def options(tmp_path: Path, **rules: Any) -> DeskOptions:
    config = MonitorConfig(**{"alert_below": 0.4, "window": 5, **rules})
    return DeskOptions(str(tmp_path / "monitor.db"), config)


def posts(*texts: str, start: int = 0, ts: float | None = T0, source: str = "") -> list[NewPost]:
    return [NewPost(f"p{start + i}", text, None if ts is None else ts + start + i, source, None)
            for i, text in enumerate(texts)]


def feed(desk: Desk, scores: list[float], *, start: int = 0, source: str = "") -> Any:
    return desk.ingest(posts(*(f"text {start + i}" for i in range(len(scores))), start=start, source=source), scores)


# --- the schema --------------------------------------------------------------------------------------


def test_a_new_store_is_migrated_and_reopening_keeps_it(tmp_path: Path) -> None:
    open_store(tmp_path / "m.db").close()
    open_store(tmp_path / "m.db").close()
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT state, posts, alerts FROM state").fetchall() == [("warming", 0, 0)]


def test_a_store_from_a_newer_sentikit_is_refused_in_one_line(tmp_path: Path) -> None:
    open_store(tmp_path / "m.db").close()
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as caught:
        open_store(tmp_path / "m.db")
    message = str(caught.value)
    assert "\n" not in message and "schema version 99" in message and "upgrade sentikit" in message


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.db").write_bytes(b"not a database at all, just bytes" * 100)
    with pytest.raises(StoreError, match="the monitor store .*m.db: file is not a database"):
        open_store(tmp_path / "m.db")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "missing" / "m.db")


# --- ingest ------------------------------------------------------------------------------------------


def test_duplicates_by_id_are_not_stored_or_counted_again(tmp_path: Path) -> None:
    desk = Desk.open(options(tmp_path))
    first = desk.ingest(posts("a", "b", "c"), [0.9, 0.8, 0.7])
    assert (first.accepted, first.duplicates, first.ids) == (3, 0, ["p0", "p1", "p2"])
    again = desk.ingest(posts("a", "b", "c", "d"), [0.9, 0.8, 0.7, 0.1])  # a retried batch with one new post
    assert (again.accepted, again.duplicates) == (1, 3)
    twice = desk.ingest([NewPost("x", "same", T0, "", None), NewPost("x", "same", T0, "", None)], [0.5, 0.5])
    assert (twice.accepted, twice.duplicates) == (1, 1)
    generated = desk.ingest([NewPost(None, "no id", None, "", None)] * 2, [0.5, 0.5])
    assert generated.accepted == 2 and len(set(generated.ids)) == 2
    state = desk.state()
    assert state["posts"] == 7 and state["window"]["count"] == 5
    assert [p["id"] for p in desk.posts(order="recent", limit=10, since=None, until=T0 + 10, source=None)["posts"]] == [
        "p3", "p2", "p1", "x", "p0"]  # newest event time first; the same time: the later arrival first
    desk.close()


def test_one_alert_per_crossing_then_a_recovery(tmp_path: Path) -> None:
    desk = Desk.open(options(tmp_path, recover_above=0.6))
    assert feed(desk, [0.9] * 4).state == "warming"
    assert feed(desk, [0.9], start=4).state == "ok"
    turned = feed(desk, [0.1, 0.1, 0.1, 0.1], start=5)  # the mean: 0.74, 0.58, 0.42, then 0.26
    assert turned.state == "alert" and [e.kind for e in turned.events] == ["alert"]
    assert feed(desk, [0.05] * 5, start=9).events == []  # still below: no second alert
    back = feed(desk, [0.95] * 5, start=14)  # 0.23, 0.41, 0.59, then 0.77: back at p17
    assert back.state == "ok" and [e.kind for e in back.events] == ["recovery"]
    state = desk.state()
    assert (state["state"], state["alerts"], state["recoveries"]) == ("ok", 1, 1)
    assert state["since"] == _iso(T0 + 17)  # the post that brought the mean back
    alerts = desk.alerts(limit=10, since=None, until=None)["alerts"]
    assert [a["kind"] for a in alerts] == ["alert", "recovery"]
    alert = alerts[0]
    assert alert["post_id"] == "p8" and alert["at"] == _iso(T0 + 8)
    assert alert["window"]["count"] == 5 and alert["window"]["negative_share"] == pytest.approx(0.8)
    assert alert["mean"] == pytest.approx(0.26)
    assert [p["id"] for p in alert["negative_posts"]] == ["p5", "p6", "p7", "p8"]
    desk.close()


def _iso(ts: float) -> str:
    from sentikit.monitor import iso

    return str(iso(ts))


def test_a_restart_restores_the_window_and_raises_no_second_alert(tmp_path: Path) -> None:
    desk = Desk.open(options(tmp_path))
    feed(desk, [0.9, 0.1, 0.1, 0.1, 0.1])
    assert desk.state()["state"] == "alert"
    desk.close()
    again = Desk.open(options(tmp_path))
    assert again.state()["state"] == "alert" and again.monitor.count == 5
    assert feed(again, [0.2], start=5).events == []  # mean still low: the alert already raised stays the one
    # the restored window is the last 5 posts: three positives bring the mean over 0.4 again
    recovered = feed(again, [0.9, 0.9, 0.9], start=6)
    assert [e.kind for e in recovered.events] == ["recovery"]
    assert again.state()["alerts"] == 1
    again.close()


def test_two_workers_on_one_store_decide_as_one_monitor(tmp_path: Path) -> None:
    """Two desks (two worker processes' worth) taking turns: the same events as one WindowMonitor."""
    scores = [0.9] * 6 + [0.1] * 6 + [0.9] * 8 + [0.2] * 7 + [0.8] * 6
    a, b = Desk.open(options(tmp_path)), Desk.open(options(tmp_path))
    kinds = []
    for start in range(0, len(scores), 3):
        desk = (a, b)[(start // 3) % 2]
        kinds += [e.kind for e in feed(desk, scores[start:start + 3], start=start).events]
    reference = WindowMonitor(options(tmp_path).config)
    expected = [e.kind for e in reference.add_many([Record(f"t{i}", i, T0 + i) for i in range(len(scores))], scores)]
    assert kinds == expected == ["alert", "recovery", "alert", "recovery"]
    assert a.state() == b.state()
    assert a.state()["window"]["mean"] == pytest.approx(reference.mean)
    a.close()
    b.close()


def test_a_time_window_is_restored_from_event_times(tmp_path: Path) -> None:
    opts = options(tmp_path, window=None, window_seconds=60, min_count=3)
    desk = Desk.open(opts)
    desk.ingest([NewPost(f"o{i}", "old", T0 + i, "", None) for i in range(5)], [0.9] * 5)
    desk.ingest([NewPost(f"n{i}", "new", T0 + 100 + i, "", None) for i in range(3)], [0.1] * 3)
    assert desk.state()["state"] == "alert" and desk.monitor.count == 3  # the old posts left the window
    desk.close()
    again = Desk.open(opts)
    assert again.monitor.count == 3 and again.monitor.mean == pytest.approx(0.1)
    again.close()


def test_a_failed_ingest_stores_nothing_and_the_next_one_starts_from_the_store(tmp_path: Path) -> None:
    desk = Desk.open(options(tmp_path))
    feed(desk, [0.9, 0.9])
    with pytest.raises(sqlite3.IntegrityError):
        desk.ingest([NewPost("ok", "fine", T0, "", None), NewPost("bad", None, T0, "", None)], [0.1, 0.1])  # type: ignore[arg-type]
    assert desk.state()["posts"] == 2
    feed(desk, [0.1, 0.1, 0.1, 0.1], start=2)
    state = desk.state()
    assert state["posts"] == 6 and state["window"]["count"] == 5 and state["state"] == "alert"
    desk.close()


def test_retention_deletes_old_posts_at_start(tmp_path: Path) -> None:
    now = time.time()
    opts = DeskOptions(str(tmp_path / "monitor.db"), MonitorConfig(alert_below=0.4, window=5), retention_days=30)
    desk = Desk.open(opts)
    desk.ingest([NewPost("old", "old", now - 40 * 86_400, "a", None), NewPost("new", "new", now - 86_400, "a", None)],
                [0.9, 0.9])
    desk.close()
    again = Desk.open(opts)
    assert again.state()["posts"] == 1
    assert [p["id"] for p in again.posts(order="recent", limit=10, since=None, until=None, source=None)["posts"]] == ["new"]
    assert sum(b["count"] for b in again.summary(bucket_minutes=1440, since=None, until=None, source=None)["buckets"]) == 1
    again.close()


def test_summary_posts_and_sources_read_what_was_stored(tmp_path: Path) -> None:
    desk = Desk.open(options(tmp_path, window=100))
    start = T0
    stored = [NewPost(f"s{i}", f"text {i}", start + i * 60, "x" if i % 2 else "y", None) for i in range(12)]
    desk.ingest(stored, [0.2 if i < 6 else 0.8 for i in range(12)])
    summary = desk.summary(bucket_minutes=5, since=None, until=None, source=None)
    assert [(b["count"], b["negative_share"]) for b in summary["buckets"]] == [(5, 1.0), (5, 0.2), (2, 0.0)]
    assert summary["buckets"][0]["start"] == _iso(start) and summary["buckets"][0]["mean"] == pytest.approx(0.2)
    hours = desk.summary(bucket_minutes=60, since=None, until=None, source=None)["buckets"]  # from the hourly rollup
    assert sum(b["count"] for b in hours) == 12 and hours[0]["start"] == _iso(start // 3600 * 3600)
    assert sum(b["mean"] * b["count"] for b in hours) == pytest.approx(6 * 0.2 + 6 * 0.8)
    only_x = desk.summary(bucket_minutes=1, since=start, until=start + 600, source="x")
    assert [b["count"] for b in only_x["buckets"]] == [1] * 5
    worst = desk.posts(order="score", limit=3, since=start + 120, until=None, source="y")["posts"]
    assert [(p["id"], p["label"], p["source"]) for p in worst] == [("s4", "negative", "y"), ("s2", "negative", "y"),
                                                                   ("s10", "positive", "y")]
    assert desk.sources() == {"sources": ["x", "y"]}
    desk.close()


def test_drivers_are_the_terms_of_the_negative_posts_that_were_rare_before(tmp_path: Path, trained_model: Any) -> None:
    scorer = trained_model.scorer
    desk = Desk.open(options(tmp_path, window=20), explain=scorer.explain)
    calm = ["the staff were friendly and the room clean", "great food and a lovely view",
            "nice hotel, friendly people", "good value, clean room"] * 5
    desk.ingest([NewPost(f"c{i}", t, T0 + i, "", None) for i, t in enumerate(calm)], scorer.score(calm))
    angry = ["my flight was delayed again and the refund never came", "delayed for hours, no refund, awful",
             "terrible: delayed flight, still waiting for a refund", "awful airline, refund refused"] * 5
    result = desk.ingest([NewPost(f"a{i}", t, T0 + 100 + i, "", None) for i, t in enumerate(angry)], scorer.score(angry))
    assert [e.kind for e in result.events] == ["alert"]
    alert = desk.alerts(limit=1, since=None, until=None)["alerts"][0]
    terms = [d["term"] for d in alert["drivers"]]
    # "refund" and "awful" are new and weigh down; this small model weighs "delayed" up, so it is no driver
    assert {"refund", "awful"} <= set(terms) and "delayed" not in terms
    assert not any(t.startswith("lexicon:") or "NOT_" in t for t in terms)  # model features, negation marks
    top = alert["drivers"][0]
    assert top["negative"] > 0 and top["baseline"] == 0 and top["lift"] > 1 and top["weight"] < 0
    # the route's reading of the same window agrees
    assert "refund" in [d["term"] for d in desk.drivers(since=None, until=None, source=None)["drivers"]]
    desk.close()


def test_the_desk_posts_its_alerts_and_recoveries_to_the_webhook(tmp_path: Path, receiver: Any) -> None:
    from sentikit.monitor.notify import WebhookChannel

    opts = DeskOptions(str(tmp_path / "monitor.db"), MonitorConfig(alert_below=0.4, window=3),
                       channels=(WebhookChannel(receiver.url),))
    desk = Desk.open(opts)
    feed(desk, [0.9, 0.1, 0.1])
    feed(desk, [0.9, 0.9], start=3)
    desk.close()  # waits (a second at most) for what is pending; the rest stays in the store
    assert [(b["event"], b["window"]["count"]) for b in receiver.bodies] == [("alert", 3), ("recovery", 3)]
    assert receiver.bodies[0]["negative_posts"][0]["id"] == "p1"  # the alert as /v1/monitor/alerts shows it


def test_options_come_from_the_settings_as_monitor_takes_them(tmp_path: Path) -> None:
    from sentikit.config import load_settings
    from sentikit.errors import InvalidInputError

    environ = {"SENTIKIT_MONITOR": "1", "SENTIKIT_MONITOR_ALERT_BELOW": "0.3", "SENTIKIT_MONITOR_WINDOW_SECONDS": "600",
               "SENTIKIT_MONITOR_STORE": str(tmp_path / "d.db"), "SENTIKIT_THRESHOLD": "0.6"}
    opts = DeskOptions.from_settings(load_settings(environ=environ, cwd=tmp_path))
    assert opts is not None and opts.store == str(tmp_path / "d.db") and opts.retention_days == 90
    assert (opts.config.alert_below, opts.config.window_seconds, opts.config.threshold) == (0.3, 600, 0.6)
    assert DeskOptions.from_settings(load_settings(environ={}, cwd=tmp_path)) is None
    with pytest.raises(InvalidInputError, match="--alert-below"):
        DeskOptions.from_settings(load_settings(environ={"SENTIKIT_MONITOR": "true"}, cwd=tmp_path))
    with pytest.raises(InvalidInputError, match="exactly one of --window"):
        DeskOptions.from_settings(load_settings(environ={"SENTIKIT_MONITOR": "1", "SENTIKIT_MONITOR_ALERT_BELOW": "0.4"},
                                                cwd=tmp_path))
    (tmp_path / "sentikit.toml").write_text("[monitor]\nenabled = true\nalert_below = 0.45\nwindow = 30\n")
    from_file = DeskOptions.from_settings(load_settings(environ={}, cwd=tmp_path))
    assert from_file is not None and (from_file.config.alert_below, from_file.config.window) == (0.45, 30)


def test_threads_of_one_worker_keep_one_window(tmp_path: Path) -> None:
    import threading

    desk = Desk.open(options(tmp_path, window=50))
    other = Desk.open(options(tmp_path, window=50))  # a second worker, so that the first one also replays

    def send(which: Desk, start: int) -> None:
        for offset in range(60):  # one post a transaction: many hand-overs of the lock
            feed(which, [((start + offset) % 7) / 7], start=start + offset)

    threads = [threading.Thread(target=send, args=(desk if k % 3 else other, 1000 * k)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        last = [score for (score,) in db.execute("SELECT score FROM posts ORDER BY seq DESC LIMIT 50")]
    feed(desk, [0.5], start=99_999)  # brings this desk up to date with the store, then adds one
    assert desk.monitor.count == 50
    assert desk.monitor.mean == pytest.approx((sum(last[:49]) + 0.5) / 50)
    desk.close()
    other.close()


def test_retention_deletes_in_chunks_and_keeps_the_count(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    from sentikit.monitor.store import StoredPost

    with store.transaction() as tx:
        tx.insert_posts(StoredPost(i + 1, f"p{i}", "t", 0.5, 1, 1000.0 + i, 1000.0, "", None) for i in range(23))
        tx.save_state(dataclasses.replace(tx.state(), posts=23, last_seq=23))
    assert store.prune(1010.0, chunk=4) == 10
    assert store.state().posts == 13 and len(store.posts(order="recent", limit=100)) == 13
    store.close()
