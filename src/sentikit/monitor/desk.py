"""The desk: `sentikit monitor`'s window and rules inside the server, over a store.

:class:`Desk` takes scored posts (``POST /v1/posts``) and decides each batch inside one store
transaction: it reads the committed state, brings its :class:`~.window.WindowMonitor` up to date
with what other workers stored since (or rebuilds it after a restart), stores the new posts, the
events they raise and the new state, and commits before the caller answers. So every worker of a
server (and every restart) sees the same window and state, and one crossing is one alert.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..config import Settings
from ..errors import InvalidInputError
from ..score import is_positive
from .drivers import Explainer, Terms, find_drivers
from .events import Alert, Event, Record, Recovery, TextSample, WindowStats, iso
from .store import NewPost, StateRow, Store, StoredPost, Transaction, open_store
from .webhook import WebhookNotifier
from .window import MonitorConfig, WindowMonitor

__all__ = ["Desk", "DeskOptions", "IngestResult"]

# How many posts another worker may have stored before this one replays them rather than rebuilding.
_CATCH_UP = 20_000
_PRUNE_EVERY = 600.0  # seconds between retention passes while posts arrive
# Texts read to find drivers (the most negative of the window, the newest before it): each is explained once.
_DRIVER_NEGATIVES, _DRIVER_BASELINE = 200, 300


@dataclass(frozen=True)
class DeskOptions:
    """``serve --monitor``'s settings: the store, the rules (as ``sentikit monitor``'s), retention, webhook."""

    store: str
    config: MonitorConfig
    retention_days: float = 90.0
    webhook: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Optional[DeskOptions]:
        """The desk's options, or None when ``--monitor`` (``SENTIKIT_MONITOR``) is off.

        Raises:
            InvalidInputError: the rules are incomplete or inconsistent (``--alert-below`` missing, ...).
        """
        if not settings.monitor_enabled:
            return None
        if settings.monitor_alert_below is None:
            raise InvalidInputError("serve --monitor needs --alert-below (SENTIKIT_MONITOR_ALERT_BELOW), e.g. --alert-below 0.4")
        threshold = settings.threshold if settings.monitor_threshold is None else settings.monitor_threshold
        config = MonitorConfig(
            alert_below=settings.monitor_alert_below, recover_above=settings.monitor_recover_above,
            window=settings.monitor_window, window_seconds=settings.monitor_window_seconds,
            min_count=settings.monitor_min_count, threshold=threshold,
        )
        return cls(settings.monitor_store, config, settings.monitor_retention_days, settings.monitor_webhook)

    def check(self) -> None:
        """Fail now, in one line, on what would stop every worker: an unusable store, a bad webhook URL.
        Opening the store migrates it; retention is applied once, here, before the workers open it."""
        if self.webhook:
            WebhookNotifier(self.webhook).close(timeout=0)
        store = open_store(self.store)
        try:
            store.prune(self.retention_cutoff(time.time()))
        finally:
            store.close()

    def retention_cutoff(self, now: float) -> float:
        """Posts with an event time before this are deleted."""
        return now - self.retention_days * 86_400

    def rules(self) -> dict[str, Any]:
        c = self.config
        return {"alert_below": c.alert_below, "recover_above": c.effective_recover_above, "window": c.window,
                "window_seconds": c.window_seconds, "min_count": c.effective_min_count, "threshold": c.threshold}


@dataclass(frozen=True)
class IngestResult:
    """What one ``POST /v1/posts`` stored: ids in request order, how many were new or duplicates, the state after."""

    ids: list[str]
    accepted: int
    duplicates: int
    state: str
    events: list[Event]


def _window_dict(stats: WindowStats) -> dict[str, Any]:
    share = stats.negative / stats.count if stats.count else None
    return {"count": stats.count, "mean": stats.mean, "negative_share": share, "start": stats.start, "end": stats.end,
            "min": stats.min, "max": stats.max, "negative": stats.negative}


class Desk:
    """Ingest and the dashboard's reads over one store (one per worker process)."""

    def __init__(self, store: Store, options: DeskOptions, *, explain: Optional[Explainer] = None,
                 model: Optional[dict[str, Any]] = None, clock: Callable[[], float] = time.time) -> None:
        self.store, self.options, self.clock = store, options, clock
        self.terms = Terms(explain) if explain is not None else None
        self.config = options.config
        self.monitor = WindowMonitor(options.config, model=model)
        self.notifier = WebhookNotifier(options.webhook) if options.webhook else None
        self._synced: Optional[int] = None  # the store's last seq this process's window has seen
        self._pruned = -math.inf

    @classmethod
    def open(cls, options: DeskOptions, **kwargs: Any) -> Desk:
        """Open the store (migrating it), apply retention, and restore the window from it."""
        desk = cls(open_store(options.store), options, **kwargs)
        desk.prune()
        with desk.store.transaction() as tx:
            desk._sync(tx, tx.state())
        return desk

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close(timeout=5.0)
        self.store.close()

    # -- ingest ---------------------------------------------------------------------
    def ingest(self, posts: Sequence[NewPost], scores: Sequence[float]) -> IngestResult:
        """Store the posts that are new (by id), feed them to the window and commit, all or nothing.

        A post without an id gets a generated one; without an event time, now.
        """
        now = self.clock()
        threshold = self.config.threshold
        try:
            with self.store.transaction() as tx:
                row = tx.state()
                self._sync(tx, row)
                ids = [post.id or uuid.uuid4().hex for post in posts]
                existing = tx.existing_ids(ids)
                fresh: list[StoredPost] = []
                seq = row.last_seq
                for (_, text, ts, source, url), pid, score in zip(posts, ids, scores):
                    if pid in existing:
                        continue
                    existing.add(pid)  # the same id twice in one batch: the second is a duplicate
                    seq += 1
                    fresh.append(StoredPost(seq, pid, text, float(score), int(is_positive(score, threshold)),
                                            now if ts is None else ts, now, source, url))
                tx.insert_posts(fresh)
                tx.add_rollup("minute", _rollup(fresh, 60))
                tx.add_rollup("hour", _rollup(fresh, 3600))
                state, since, events = self._feed(tx, row, fresh, now)
                tx.save_state(StateRow(
                    state, since, seq, row.posts + len(fresh), self.monitor.alerts, self.monitor.recoveries,
                    self.monitor.alert_position, _window_dict(self.monitor.stats()),
                ))
                # Under the lock: another thread of this process must not replay what the window holds.
                # Should the commit fail, a gap that does not fit rebuilds the window (below and _sync).
                self._synced = seq
        except BaseException:
            self._synced = None  # the window may hold what was rolled back: rebuild it next time
            raise
        if self.notifier is not None:
            for event in events:
                self.notifier.submit(event)
        if now - self._pruned > _PRUNE_EVERY:
            self.prune()
        return IngestResult(ids, len(fresh), len(posts) - len(fresh), state, events)

    def _feed(self, tx: Transaction, row: StateRow, fresh: list[StoredPost],
              now: float) -> tuple[str, Optional[float], list[Event]]:
        monitor = self.monitor
        state, since = row.state, row.since
        events: list[Event] = []
        for post in fresh:
            event = monitor.add(Record(post.text, post.seq, post.ts, post.id, True), post.score)
            if monitor.state != state:
                state, since = monitor.state, post.ts
            if event is not None:
                events.append(event)
                self._store_event(tx, event, post, now)
        if since is None and fresh:
            since = fresh[0].ts
        return state, since, events

    def _store_event(self, tx: Transaction, event: Event, post: StoredPost, now: float) -> None:
        assert isinstance(event, (Alert, Recovery))
        samples = event.samples if isinstance(event, Alert) else self.monitor.samples()
        urls = tx.urls([s.id for s in samples if s.id])
        negative_posts = [_sample_dict(s, urls) for s in samples]
        drivers: list[dict[str, Any]] = []
        if isinstance(event, Alert) and self.terms is not None:
            records = self.monitor.window_records()
            negative = [r.text for r, s in sorted(records, key=lambda rs: rs[1])[:_DRIVER_NEGATIVES]
                        if not is_positive(s, self.config.threshold)]
            start = min(r.time for r, _ in records)
            end = max(r.time for r, _ in records)
            before = tx.texts_between(start - max(end - start, 60.0), start, None, _DRIVER_BASELINE)
            drivers = [d.to_dict() for d in find_drivers(self.terms, negative, [t for t, _ in before])]
        body = {
            "mean": event.mean, "alert_below": event.alert_below, "recover_above": event.recover_above,
            "window": _window_dict(event.window), "negative_posts": negative_posts, "drivers": drivers,
            "received": iso(now),
        }
        tx.add_event(event.kind, post.ts, now, post.id, event.mean, body)

    def _sync(self, tx: Transaction, row: StateRow) -> None:
        """Bring this process's window up to the committed state ``row``."""
        if self._synced == row.last_seq:
            return
        replay = self._synced is not None and 0 <= row.last_seq - self._synced <= _CATCH_UP
        if replay:
            posts = tx.posts_after(self._synced or 0, _CATCH_UP + 1)
        else:
            if self.config.window is not None:
                posts = tx.last_posts(self.config.window)
            else:
                newest = tx.newest()
                posts = [] if newest is None else tx.posts_since(newest - float(self.config.window_seconds or 0))
        self.monitor.restore(_records(posts), position=row.last_seq, alerting=row.state == "alert", alerts=row.alerts,
                             recoveries=row.recoveries, alert_position=row.alert_seq, reset=not replay)
        self._synced = row.last_seq

    # -- reads ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        row = self.store.state()
        window = {k: row.window.get(k) for k in ("count", "mean", "negative_share", "start", "end")}
        window["count"] = window["count"] or 0
        return {"state": row.state, "since": iso(row.since), "window": window, "posts": row.posts,
                "alerts": row.alerts, "recoveries": row.recoveries, "rules": self.options.rules()}

    def alerts(self, *, limit: int, since: Optional[float], until: Optional[float]) -> dict[str, Any]:
        rows = self.store.events(limit=limit, since=since, until=until)
        return {"alerts": [{"kind": r.kind, "at": iso(r.at), "post_id": r.post_id, **r.body} for r in rows]}

    def posts(self, *, order: str, limit: int, since: Optional[float], until: Optional[float],
              source: Optional[str]) -> dict[str, Any]:
        found = self.store.posts(order=order, limit=limit, since=since, until=until, source=source)
        return {"posts": [p.to_dict() for p in found]}

    def summary(self, *, bucket_minutes: int, since: Optional[float], until: Optional[float],
                source: Optional[str]) -> dict[str, Any]:
        """Posts, mean and negative share per bucket of ``bucket_minutes`` (event time)."""
        rows = self.store.summary(bucket_minutes=bucket_minutes, since=since, until=until, source=source)
        return {"buckets": [
            {"start": iso(r.start), "count": r.posts, "mean": r.score_sum / r.posts if r.posts else None,
             "negative_share": r.negative / r.posts if r.posts else None} for r in rows]}

    def drivers(self, *, since: Optional[float], until: Optional[float], source: Optional[str]) -> dict[str, Any]:
        """Drivers of ``[since, until)`` (default: the current window) against the period as long before it."""
        if since is None or until is None:
            window = self.store.state().window
            start, end = _epoch(window.get("start")), _epoch(window.get("end"))
            since = start if since is None else since
            until = (end + 0.001 if end is not None else None) if until is None else until
        if self.terms is None or since is None or until is None or until <= since:
            return {"drivers": [], "since": iso(since), "until": iso(until)}
        negative = self.store.negative_texts(since, until, source, self.config.threshold, _DRIVER_NEGATIVES)
        before = self.store.texts_between(since - max(until - since, 60.0), since, source, _DRIVER_BASELINE)
        found = find_drivers(self.terms, negative, [t for t, _ in before])
        return {"drivers": [d.to_dict() for d in found], "since": iso(since), "until": iso(until)}

    def sources(self) -> dict[str, Any]:
        return {"sources": self.store.sources()}

    def prune(self) -> int:
        """Delete posts older than the retention period; return how many."""
        now = self.clock()
        self._pruned = now
        return self.store.prune(self.options.retention_cutoff(now))


def _records(posts: list[StoredPost]) -> list[tuple[Record, float]]:
    return [(Record(p.text, p.seq, p.ts, p.id, True), p.score) for p in posts]


def _rollup(posts: list[StoredPost], seconds: int) -> list[tuple[int, str, int, float, int]]:
    sums: dict[tuple[int, str], list[Any]] = {}
    for p in posts:
        entry = sums.setdefault((int(p.ts // seconds), p.source), [0, 0.0, 0])
        entry[0] += 1
        entry[1] += p.score
        entry[2] += 1 - p.label
    return [(minute, source, c, total, neg) for (minute, source), (c, total, neg) in sums.items()]


def _sample_dict(sample: TextSample, urls: dict[str, Optional[str]]) -> dict[str, Any]:
    return {"id": sample.id, "text": sample.text, "score": sample.score, "timestamp": sample.time,
            "url": urls.get(sample.id) if sample.id else None}


def _epoch(value: Any) -> Optional[float]:
    if not value:
        return None
    from .parse import parse_timestamp

    return parse_timestamp(value)
