"""The desk store's SQL, in one place, and the seam between SQL dialects.

Statements are written once, in the SQL SQLite and PostgreSQL share: ``?`` placeholders (a
dialect rewrites them), ``INSERT ... ON CONFLICT``, no ``rowid``, no ``AUTOINCREMENT``, times as
epoch seconds in floating-point columns. What differs (column types, how a write transaction
takes the lock, connecting) is a :class:`Dialect`'s business; the logic never sees it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Protocol, Sequence

__all__ = ["Connection", "Dialect", "MIGRATIONS", "SCHEMA_VERSION", "SQLiteDialect"]


class Connection(Protocol):
    """What the store needs of a DB-API connection (sqlite3's and psycopg's both have it)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, parameters: Any) -> Any: ...
    def close(self) -> None: ...


class Dialect(Protocol):
    """What differs between the databases a store can live in."""

    name: str
    types: dict[str, str]  # {serial}, {real} in MIGRATIONS -> this database's column types

    def connect(self) -> Connection: ...
    def sql(self, statement: str) -> str: ...  # this database's placeholders
    def ddl(self, statement: str) -> str: ...  # this database's column types ({serial}, {real})
    def begin_write(self, connection: Connection) -> None: ...  # take the store's write lock
    def begin_read(self, connection: Connection) -> None: ...  # one consistent snapshot
    def commit(self, connection: Connection) -> None: ...
    def rollback(self, connection: Connection) -> None: ...


class SQLiteDialect:
    """SQLite (stdlib ``sqlite3``): WAL, autocommit off by hand, ``BEGIN IMMEDIATE`` for writes."""

    name = "sqlite"
    types = {"serial": "INTEGER NOT NULL PRIMARY KEY", "real": "REAL"}

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path, self.busy_timeout = path, busy_timeout

    def connect(self) -> Connection:
        # isolation_level=None: the store issues BEGIN itself (sqlite3's implicit BEGIN is DEFERRED,
        # and a deferred writer that has to upgrade its lock can fail instead of waiting).
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk (fsync of the log) before the server says 2xx.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        return connection

    def sql(self, statement: str) -> str:
        return statement  # sqlite3 takes ? as written

    def ddl(self, statement: str) -> str:
        return statement.format(**self.types)

    def begin_write(self, connection: Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")

    def begin_read(self, connection: Connection) -> None:
        connection.execute("BEGIN")

    def commit(self, connection: Connection) -> None:
        connection.execute("COMMIT")

    def rollback(self, connection: Connection) -> None:
        connection.execute("ROLLBACK")


# Schema versions, each a list of statements; the store records the version it reached in `meta`.
MIGRATIONS: list[list[str]] = [
    [  # 1: posts, the per-minute and per-hour rollups, events, the alert state
        """CREATE TABLE posts (
            seq {serial},
            id TEXT NOT NULL UNIQUE,
            text TEXT NOT NULL,
            score {real} NOT NULL,
            label INTEGER NOT NULL,
            ts {real} NOT NULL,
            received {real} NOT NULL,
            source TEXT NOT NULL,
            url TEXT
        )""",
        "CREATE INDEX posts_ts ON posts (ts)",
        "CREATE INDEX posts_source_ts ON posts (source, ts)",
        """CREATE TABLE rollup (
            minute INTEGER NOT NULL,
            source TEXT NOT NULL,
            count INTEGER NOT NULL,
            score_sum {real} NOT NULL,
            negative INTEGER NOT NULL,
            PRIMARY KEY (minute, source)
        )""",
        """CREATE TABLE rollup_hour (
            hour INTEGER NOT NULL,
            source TEXT NOT NULL,
            count INTEGER NOT NULL,
            score_sum {real} NOT NULL,
            negative INTEGER NOT NULL,
            PRIMARY KEY (hour, source)
        )""",
        """CREATE TABLE events (
            seq {serial},
            kind TEXT NOT NULL,
            at {real},
            recorded {real} NOT NULL,
            post_id TEXT,
            mean {real},
            body TEXT NOT NULL
        )""",
        """CREATE TABLE state (
            id INTEGER NOT NULL PRIMARY KEY,
            state TEXT NOT NULL,
            since {real},
            last_seq INTEGER NOT NULL,
            posts INTEGER NOT NULL,
            alerts INTEGER NOT NULL,
            recoveries INTEGER NOT NULL,
            alert_seq INTEGER NOT NULL,
            window_stats TEXT NOT NULL
        )""",
        "INSERT INTO state (id, state, since, last_seq, posts, alerts, recoveries, alert_seq, window_stats)"
        " VALUES (1, 'warming', NULL, 0, 0, 0, 0, 0, '{{}}')",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

CREATE_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
READ_VERSION = "SELECT value FROM meta WHERE key = 'schema_version'"
WRITE_VERSION = ("INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value")

POST_COLUMNS = "seq, id, text, score, label, ts, received, source, url"
INSERT_POST = f"INSERT INTO posts ({POST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
EXISTING_IDS = "SELECT id FROM posts WHERE id IN ({marks})"
POSTS_AFTER = f"SELECT {POST_COLUMNS} FROM posts WHERE seq > ? ORDER BY seq LIMIT ?"
LAST_POSTS = f"SELECT {POST_COLUMNS} FROM posts ORDER BY seq DESC LIMIT ?"
POSTS_SINCE_TS = f"SELECT {POST_COLUMNS} FROM posts WHERE ts > ? ORDER BY seq"
# {table}/{unit}: rollup/minute or rollup_hour/hour (summaries of 1h and more read the smaller one).
ADD_ROLLUP = (
    "INSERT INTO {table} ({unit}, source, count, score_sum, negative) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT ({unit}, source) DO UPDATE SET count = {table}.count + excluded.count,"
    " score_sum = {table}.score_sum + excluded.score_sum, negative = {table}.negative + excluded.negative"
)
ROLLUPS = {"minute": ("rollup", 60), "hour": ("rollup_hour", 3600)}  # unit -> (table, seconds)
INSERT_EVENT = "INSERT INTO events (kind, at, recorded, post_id, mean, body) VALUES (?, ?, ?, ?, ?, ?)"
READ_STATE = "SELECT state, since, last_seq, posts, alerts, recoveries, alert_seq, window_stats FROM state WHERE id = 1"
WRITE_STATE = ("UPDATE state SET state = ?, since = ?, last_seq = ?, posts = ?, alerts = ?, recoveries = ?,"
               " alert_seq = ?, window_stats = ? WHERE id = 1")
PRUNE_POSTS = "DELETE FROM posts WHERE seq IN (SELECT seq FROM posts WHERE ts < ? LIMIT ?)"
PRUNE_ROLLUP = "DELETE FROM {table} WHERE {unit} < ?"
PRUNE_COUNT = "UPDATE state SET posts = posts - ? WHERE id = 1"
SOURCES = "SELECT DISTINCT source FROM rollup_hour WHERE source <> '' ORDER BY source LIMIT 1000"
LIST_POSTS = f"SELECT {POST_COLUMNS} FROM posts{{where}} ORDER BY {{order}} LIMIT ?"
POST_ORDERS = {"recent": "ts DESC, seq DESC", "score": "score ASC, ts DESC"}
POST_URLS = "SELECT id, url FROM posts WHERE id IN ({marks})"
# Per bucket of `?` units: its first unit, posts, sum of scores, negatives (from a rollup).
SUMMARY = ("SELECT ({unit} / ?) * ? AS bucket, SUM(count), SUM(score_sum), SUM(negative) FROM {table}{where}"
           " GROUP BY ({unit} / ?) * ? ORDER BY bucket")
LIST_EVENTS = "SELECT seq, kind, at, recorded, post_id, mean, body FROM events{where} ORDER BY seq DESC LIMIT ?"
TEXTS_BETWEEN = "SELECT text, score FROM posts{where} ORDER BY ts DESC LIMIT ?"
NEGATIVE_TEXTS = "SELECT text FROM posts{where} ORDER BY score ASC LIMIT ?"


def marks(count: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``count`` values."""
    return ", ".join("?" * count)


def where(conditions: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """`` WHERE a AND b`` (or nothing) and its parameters from ``(condition with one ?, value)`` pairs
    whose value is not None."""
    chosen = [(condition, value) for condition, value in conditions if value is not None]
    if not chosen:
        return "", []
    return " WHERE " + " AND ".join(c for c, _ in chosen), [v for _, v in chosen]
NEWEST = "SELECT MAX(ts) FROM posts"
