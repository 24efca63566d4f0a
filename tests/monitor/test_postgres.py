"""The desk's store on a real PostgreSQL server: the same behaviour as SQLite (same batches, same state and
alerts), versioned migrations on both back ends, one alert per crossing and one claim per delivery when
several desks (replicas) share the database, and the password never shown."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
from _postgres_server import PASSWORD, Postgres, postgres  # noqa: F401 - the fixture

from sentikit.monitor import MonitorConfig
from sentikit.monitor.desk import Desk, DeskOptions
from sentikit.monitor.notify import AlertMessage, Delivery
from sentikit.monitor.outbox import StoreOutbox
from sentikit.monitor.sql import MIGRATIONS, SCHEMA_VERSION
from sentikit.monitor.store import NewPost, StoreError, open_store

T0 = float(int(time.time()) // 300 * 300 - 86_400)
TURN = [0.9] * 20 + [0.1] * 20 + [0.9] * 20  # one crossing down, one back up


def batches(scores: list[float], size: int = 7, prefix: str = "p") -> list[tuple[list[NewPost], list[float]]]:
    posts = [NewPost(f"{prefix}{i}", f"text {i}", T0 + i, "x.com" if i % 2 else "", None) for i in range(len(scores))]
    return [(posts[i:i + size], scores[i:i + size]) for i in range(0, len(scores), size)]


def desk_on(store: str, **kwargs: Any) -> Desk:
    return Desk.open(DeskOptions(store, MonitorConfig(alert_below=0.4, window=10), **kwargs), deliver=False)


def test_postgres_behaves_as_sqlite(postgres: Postgres, tmp_path: Path) -> None:
    results = {}
    for name, store in (("sqlite", str(tmp_path / "m.db")), ("postgresql", postgres.new_database())):
        desk = desk_on(store)
        answers = [desk.ingest(p, s) for p, s in batches(TURN)]
        again = desk.ingest(*batches(TURN)[0])  # a retried batch: all duplicates
        state = desk.state()
        alerts = desk.alerts(limit=10, since=None, until=None)["alerts"]
        summary = desk.summary(bucket_minutes=5, since=None, until=None, source=None)
        by_source = desk.summary(bucket_minutes=1, since=None, until=None, source="x.com")
        hourly = desk.summary(bucket_minutes=60, since=None, until=None, source=None)
        recent = [{k: v for k, v in p.items() if k != "received"}  # arrival time: differs between the two runs
                  for p in desk.posts(order="score", limit=3, since=None, until=None, source=None)["posts"]]
        desk.close()
        reopened = desk_on(store)  # a restart: the same state from the store
        results[name] = (
            [(a.accepted, a.duplicates, a.state) for a in answers], (again.accepted, again.duplicates), state,
            [(a["kind"], a["post_id"], round(a["mean"], 6)) for a in alerts], summary, by_source, hourly, recent,
            reopened.state(), sources(reopened),
        )
        reopened.close()
    assert results["postgresql"] == results["sqlite"]
    states, duplicate, state, alerts = results["sqlite"][:4]
    assert duplicate == (0, 7) and state["posts"] == 60 and state["alerts"] == 1 and state["recoveries"] == 1
    assert [kind for kind, _, _ in alerts] == ["alert", "recovery"]
    assert state["deliveries"] == {"pending": 0, "failed": 0, "sent": 0, "last_error": None}


def sources(desk: Desk) -> Any:
    return desk.sources()


def schema_v1(execute: Callable[[str], Any], ddl: Callable[[str], str]) -> None:
    execute("CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)")
    for statement in MIGRATIONS[0]:
        execute(ddl(statement))
    execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    execute("UPDATE state SET posts = 7, state = 'ok' WHERE id = 1")


def test_an_older_store_is_upgraded_in_place_and_a_newer_refused(postgres: Postgres, tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 2  # 2: deliveries
    url = postgres.new_database()
    with psycopg.connect(url, autocommit=True) as pg:
        from sentikit.monitor.postgres import PostgresDialect

        schema_v1(lambda s: pg.execute(s), PostgresDialect(url).ddl)  # type: ignore[arg-type,return-value]
    with sqlite3.connect(tmp_path / "m.db") as lite:
        from sentikit.monitor.sql import SQLiteDialect

        schema_v1(lite.execute, SQLiteDialect(tmp_path / "m.db").ddl)
    for store, read in ((url, lambda q: psycopg.connect(url).execute(q).fetchall()),
                        (str(tmp_path / "m.db"), lambda q: sqlite3.connect(tmp_path / "m.db").execute(q).fetchall())):
        open_store(store).close()
        assert read("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
        assert read("SELECT state, posts FROM state") == [("ok", 7)]  # the data kept
        assert read("SELECT COUNT(*) FROM deliveries") == [(0,)]  # the new table
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "\n" not in message and "schema version 99" in message and PASSWORD not in message
    assert f"postgresql://sentikit@127.0.0.1:{postgres.port}/" in message


def test_the_password_comes_from_the_url_or_pgpassword_and_is_never_shown(postgres: Postgres, monkeypatch) -> None:
    url = postgres.new_database()
    wrong = url.replace(PASSWORD, "not-the-password")
    with pytest.raises(StoreError) as caught:
        open_store(wrong)
    assert "not-the-password" not in str(caught.value) and "password authentication failed" in str(caught.value)
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    open_store(url.replace(f":{PASSWORD}", "")).close()
    with pytest.raises(StoreError, match="cannot open the monitor store postgresql://sentikit@127.0.0.1:1/x"):
        open_store("postgresql://sentikit:pw@127.0.0.1:1/x")


def test_replicas_sharing_a_database_raise_one_alert_per_crossing(postgres: Postgres) -> None:
    url = postgres.new_database()
    desks = [desk_on(url) for _ in range(3)]
    work = batches(TURN, size=3)
    errors: list[BaseException] = []

    def feed(index: int) -> None:
        try:
            for number, (posts, scores) in enumerate(work):
                # every replica gets every batch (a client retrying at another replica), interleaved
                desks[(index + number) % 3].ingest(posts, scores)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    states = [d.state() for d in desks]
    assert all(s == states[0] for s in states)  # every replica answers the same state
    assert (states[0]["posts"], states[0]["alerts"], states[0]["recoveries"]) == (60, 1, 1)
    assert [a["kind"] for a in desks[0].alerts(limit=10, since=None, until=None)["alerts"]] == ["alert", "recovery"]
    for desk in desks:
        desk.close()


def test_a_delivery_is_claimed_by_one_replica_until_its_lease_runs_out(postgres: Postgres) -> None:
    url = postgres.new_database()
    stores = [open_store(url) for _ in range(4)]
    outboxes = [StoreOutbox(s) for s in stores]
    message = AlertMessage(kind="alert", alert_id="a", at=None, mean=0.3, alert_below=0.4, recover_above=0.4,
                           count=10, negative=7)
    now = time.time()
    assert outboxes[0].add([Delivery("k1", "ch", message, now, now + 60, now), Delivery("k2", "ch", message, now + 1, now + 60, now)]) == 2
    assert outboxes[1].add([Delivery("k1", "ch", message, now, now + 60, now)]) == 0  # same key: stored once
    claimed: list[list[Delivery]] = [[] for _ in outboxes]
    barrier = threading.Barrier(len(outboxes))

    def claim(index: int) -> None:
        barrier.wait()
        claimed[index] = outboxes[index].claim("ch", time.time(), owner=f"r{index}", lease=0.5, limit=10)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(outboxes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [c for c in claimed if c]
    assert len(winners) == 1 and [d.key for d in winners[0]] == ["k1"]  # the oldest, to one replica only
    assert outboxes[2].claim("ch", time.time(), owner="r2", lease=0.5, limit=10) == []  # k2 waits behind k1
    later = time.time() + 0.6
    assert [d.key for d in outboxes[3].claim("ch", later, owner="r3", lease=5, limit=10)] == ["k1"]  # lease ran out
    outboxes[3].mark_sent("k1", later, 1)
    assert [d.key for d in outboxes[1].claim("ch", later, owner="r1", lease=5, limit=10)] == ["k2"]
    outboxes[1].mark_retry("k2", later + 100, 1, "ch: HTTP 503")
    counts = outboxes[0].counts()
    assert (counts.pending, counts.sent, counts.failed, counts.last_error) == (1, 1, 0, "ch: HTTP 503")
    assert outboxes[0].next_due("ch") == pytest.approx(later + 100)
    assert outboxes[0].prune(time.time() + 1) == 1  # the sent one is forgotten (retention), the pending one stays
    assert [d.key for d in outboxes[0].pending()] == ["k2"]
    for store in stores:
        store.close()
