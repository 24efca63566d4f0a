"""The desk's store: posts, a per-minute rollup, alert events and the alert state, in SQLite.

One :class:`Store` (one connection) per process. Writes happen in :meth:`Store.transaction`,
which holds the database's write lock (``BEGIN IMMEDIATE``), so that the worker processes of one
server, each with its own store, decide every batch against the same committed state. The SQL is
in :mod:`.sql`; a PostgreSQL back end is another :class:`~.sql.Dialect` under the same store.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Sequence

from ..errors import ConfigError
from . import sql
from .events import iso
from .sql import Connection, Dialect, SQLiteDialect

__all__ = ["Bucket", "EventRow", "NewPost", "StateRow", "Store", "StoreError", "StoredPost", "open_store"]


class StoreError(ConfigError):
    """The monitor store cannot be used (unreadable, or written by a newer sentikit)."""


class StoredPost(NamedTuple):
    """A post as stored: arrival order (``seq``), id, text, score, label, event time, arrival, source, link."""

    seq: int
    id: str
    text: str
    score: float
    label: int
    ts: float
    received: float
    source: str
    url: Optional[str]

    def to_dict(self) -> dict[str, Any]:
        """The post as the API shows it (times in ISO 8601, the label as a word)."""
        return {"id": self.id, "text": self.text, "score": self.score, "label": "positive" if self.label else "negative",
                "timestamp": iso(self.ts), "received": iso(self.received), "source": self.source or None, "url": self.url}


class NewPost(NamedTuple):
    """A post to store: no id (one is generated) or no event time (now) is allowed."""

    id: Optional[str]
    text: str
    ts: Optional[float]
    source: str
    url: Optional[str]


@dataclass(frozen=True)
class StateRow:
    """The alert state as committed: the last post's ``seq`` tells a worker whether its window is current."""

    state: str
    since: Optional[float]
    last_seq: int
    posts: int
    alerts: int
    recoveries: int
    alert_seq: int
    window: dict[str, Any]


class EventRow(NamedTuple):
    seq: int
    kind: str
    at: Optional[float]
    recorded: float
    post_id: Optional[str]
    mean: Optional[float]
    body: dict[str, Any]


class Bucket(NamedTuple):
    start: float  # epoch seconds
    posts: int
    score_sum: float
    negative: int


class Transaction:
    """The writes and reads of one ingest, under the store's write lock."""

    def __init__(self, connection: Connection, dialect: Dialect) -> None:
        self.connection, self.q = connection, dialect.sql

    def state(self) -> StateRow:
        row = self.connection.execute(self.q(sql.READ_STATE)).fetchone()
        return StateRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))

    def save_state(self, row: StateRow) -> None:
        self.connection.execute(self.q(sql.WRITE_STATE), (
            row.state, row.since, row.last_seq, row.posts, row.alerts, row.recoveries, row.alert_seq,
            json.dumps(row.window, separators=(",", ":")),
        ))

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            statement = sql.EXISTING_IDS.format(marks=sql.marks(len(chunk)))
            found.update(r[0] for r in self.connection.execute(self.q(statement), chunk))
        return found

    def insert_posts(self, posts: Iterable[StoredPost]) -> None:
        self.connection.executemany(self.q(sql.INSERT_POST), posts)

    def add_rollup(self, unit: str, rows: Iterable[tuple[int, str, int, float, int]]) -> None:
        """Add ``(minute or hour, source, count, score sum, negatives)`` to the rollup of that unit."""
        table = sql.ROLLUPS[unit][0]
        self.connection.executemany(self.q(sql.ADD_ROLLUP.format(table=table, unit=unit)), rows)

    def add_event(self, kind: str, at: Optional[float], recorded: float, post_id: Optional[str],
                  mean: Optional[float], body: dict[str, Any]) -> None:
        self.connection.execute(self.q(sql.INSERT_EVENT), (kind, at, recorded, post_id, mean, json.dumps(body)))

    def posts_after(self, seq: int, limit: int) -> list[StoredPost]:
        return [StoredPost(*r) for r in self.connection.execute(self.q(sql.POSTS_AFTER), (seq, limit))]

    def last_posts(self, count: int) -> list[StoredPost]:
        """The last ``count`` posts stored, in arrival order."""
        return [StoredPost(*r) for r in self.connection.execute(self.q(sql.LAST_POSTS), (count,))][::-1]

    def posts_since(self, ts: float) -> list[StoredPost]:
        """Posts with event time after ``ts``, in arrival order."""
        return [StoredPost(*r) for r in self.connection.execute(self.q(sql.POSTS_SINCE_TS), (ts,))]

    def newest(self) -> Optional[float]:
        """The latest event time stored."""
        value = self.connection.execute(self.q(sql.NEWEST)).fetchone()[0]
        return None if value is None else float(value)

    def urls(self, ids: Sequence[str]) -> dict[str, Optional[str]]:
        if not ids:
            return {}
        statement = sql.POST_URLS.format(marks=sql.marks(len(ids)))
        return {r[0]: r[1] for r in self.connection.execute(self.q(statement), list(ids))}

    def texts_between(self, since: Optional[float], until: Optional[float], source: Optional[str],
                      limit: int) -> list[tuple[str, float]]:
        """Texts and scores with event time in ``[since, until)`` (newest first, at most ``limit``)."""
        clause, params = sql.where([("ts >= ?", since), ("ts < ?", until), ("source = ?", source)])
        statement = sql.TEXTS_BETWEEN.format(where=clause)
        return [(r[0], r[1]) for r in self.connection.execute(self.q(statement), (*params, limit))]


class Store:
    """A desk store (one connection; thread-safe by a lock; migrated to :data:`~.sql.SCHEMA_VERSION` at open)."""

    def __init__(self, dialect: Dialect, where: str) -> None:
        self.dialect, self.where = dialect, where
        self._lock = threading.RLock()
        try:
            self.connection = dialect.connect()
        except Exception as exc:  # sqlite3.Error, OSError: what the database says, in one line
            raise StoreError(f"cannot open the monitor store {where}: {exc}") from None
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        with self._lock:
            self.dialect.begin_write(self.connection)
            try:
                yield Transaction(self.connection, self.dialect)
            except BaseException:
                self.dialect.rollback(self.connection)
                raise
            self.dialect.commit(self.connection)

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        """Reads (one consistent snapshot in WAL mode)."""
        with self._lock:
            self.dialect.begin_read(self.connection)
            try:
                yield Transaction(self.connection, self.dialect)
            finally:
                self.dialect.rollback(self.connection)

    def _migrate(self) -> None:
        q = self.dialect.sql
        try:
            with self.transaction() as tx:
                tx.connection.execute(q(sql.CREATE_META))
                row = tx.connection.execute(q(sql.READ_VERSION)).fetchone()
                version = int(row[0]) if row else 0
                if version > sql.SCHEMA_VERSION:
                    raise StoreError(
                        f"the monitor store {self.where} has schema version {version}, newer than this sentikit "
                        f"reads ({sql.SCHEMA_VERSION}): upgrade sentikit or use another --store")
                for number in range(version + 1, sql.SCHEMA_VERSION + 1):
                    for statement in sql.MIGRATIONS[number - 1]:
                        tx.connection.execute(self.dialect.ddl(statement))
                    tx.connection.execute(q(sql.WRITE_VERSION), (str(number),))
        except StoreError:
            self.connection.close()
            raise
        except Exception as exc:  # not a database, locked for too long, disk full
            self.connection.close()
            raise StoreError(f"cannot use the monitor store {self.where}: {exc}") from None

    # -- reads for the API -----------------------------------------------------------
    def state(self) -> StateRow:
        with self.reading() as tx:
            return tx.state()

    def posts(self, *, order: str, limit: int, since: Optional[float] = None, until: Optional[float] = None,
              source: Optional[str] = None) -> list[StoredPost]:
        clause, params = sql.where([("ts >= ?", since), ("ts < ?", until), ("source = ?", source)])
        statement = sql.LIST_POSTS.format(where=clause, order=sql.POST_ORDERS[order])
        with self.reading() as tx:
            return [StoredPost(*r) for r in tx.connection.execute(self.dialect.sql(statement), (*params, limit))]

    def summary(self, *, bucket_minutes: int, since: Optional[float] = None, until: Optional[float] = None,
                source: Optional[str] = None) -> list[Bucket]:
        """Posts per bucket (event time) from a rollup: the hourly one for buckets of whole hours, else the
        per-minute one; ``since``/``until`` apply at that rollup's resolution (whole hours or minutes)."""
        unit = "hour" if bucket_minutes % 60 == 0 else "minute"
        table, seconds = sql.ROLLUPS[unit]
        clause, params = sql.where([
            (f"{unit} >= ?", None if since is None else int(since // seconds)),
            (f"{unit} < ?", None if until is None else -int(-until // seconds)),
            ("source = ?", source),
        ])
        statement = sql.SUMMARY.format(where=clause, table=table, unit=unit)
        b = bucket_minutes * 60 // seconds
        with self.reading() as tx:
            rows = tx.connection.execute(self.dialect.sql(statement), (b, b, *params, b, b))
            return [Bucket(float(r[0]) * seconds, int(r[1]), float(r[2]), int(r[3])) for r in rows]

    def events(self, *, limit: int, since: Optional[float] = None, until: Optional[float] = None) -> list[EventRow]:
        """Events, oldest first (the last ``limit`` of them)."""
        clause, params = sql.where([("at >= ?", since), ("at < ?", until)])
        statement = sql.LIST_EVENTS.format(where=clause)
        with self.reading() as tx:
            rows = tx.connection.execute(self.dialect.sql(statement), (*params, limit)).fetchall()
        return [EventRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in reversed(rows)]

    def negative_texts(self, since: float, until: float, source: Optional[str], threshold: float,
                       limit: int) -> list[str]:
        """The most negative texts (score below ``threshold``) with event time in ``[since, until)``."""
        clause, params = sql.where([("ts >= ?", since), ("ts < ?", until), ("source = ?", source),
                                    ("score < ?", threshold)])
        statement = sql.NEGATIVE_TEXTS.format(where=clause)
        with self.reading() as tx:
            return [r[0] for r in tx.connection.execute(self.dialect.sql(statement), (*params, limit))]

    def sources(self) -> list[str]:
        with self.reading() as tx:
            return [r[0] for r in tx.connection.execute(self.dialect.sql(sql.SOURCES))]

    def texts_between(self, since: Optional[float], until: Optional[float], source: Optional[str],
                      limit: int) -> list[tuple[str, float]]:
        with self.reading() as tx:
            return tx.texts_between(since, until, source, limit)

    # -- upkeep ------------------------------------------------------------------------
    def prune(self, before: float, *, chunk: int = 5_000) -> int:
        """Delete posts with event time before ``before`` (and their whole minutes and hours of rollup);
        return how many. A transaction deletes at most ``chunk`` posts, so ingest waits for none long."""
        with self.transaction() as tx:
            for unit, (table, seconds) in sql.ROLLUPS.items():
                statement = sql.PRUNE_ROLLUP.format(table=table, unit=unit)
                tx.connection.execute(self.dialect.sql(statement), (int(before // seconds),))
        total = 0
        while True:
            with self.transaction() as tx:
                deleted = int(tx.connection.execute(self.dialect.sql(sql.PRUNE_POSTS), (before, chunk)).rowcount or 0)
                if deleted:
                    tx.connection.execute(self.dialect.sql(sql.PRUNE_COUNT), (deleted,))
            total += deleted
            if deleted < chunk:
                return total


def open_store(path: str | Path) -> Store:
    """Open (creating and migrating) the SQLite store at ``path``.

    Raises:
        StoreError: the file is not a usable store, or a newer sentikit wrote it.
    """
    target = Path(path)
    if target.parent != Path("") and not target.parent.is_dir():
        raise StoreError(f"cannot create the monitor store {target}: directory {target.parent} does not exist")
    return Store(SQLiteDialect(target), str(target))
