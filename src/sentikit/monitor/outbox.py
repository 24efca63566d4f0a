"""The desk's outbox: deliveries kept in the store (:class:`StoreOutbox`), so an alert written to the
store is delivered even after a restart, and each delivery is claimed by one worker or replica at a
time (under the store's write lock, with a lease that runs out if the claimant dies)."""

from __future__ import annotations

import json
import time
from typing import Any, Optional, Sequence

from . import sql
from .notify import AlertMessage, Delivery, DeliveryCounts
from .store import Store, Transaction

__all__ = ["StoreOutbox", "add_deliveries"]


def add_deliveries(tx: Transaction, deliveries: Sequence[Delivery]) -> None:
    """Write deliveries inside an open store transaction (the desk writes them with their alert)."""
    now = time.time()
    tx.connection.executemany(tx.q(sql.ADD_DELIVERY), [
        (d.key, d.channel, json.dumps(d.message.to_dict(), ensure_ascii=False), d.created, d.deadline, d.next_at,
         d.attempts, d.state, d.last_error, now) for d in deliveries])


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(key=row[0], channel=row[1], message=AlertMessage.from_dict(json.loads(row[2])), created=float(row[3]),
                    deadline=float(row[4]), next_at=float(row[5]), attempts=int(row[6]), state=row[7], last_error=row[8])


class StoreOutbox:
    """An :class:`~sentikit.monitor.notify.Outbox` in the desk's store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, deliveries: Sequence[Delivery]) -> int:
        with self.store.transaction() as tx:
            before = self._count(tx)
            add_deliveries(tx, deliveries)
            return self._count(tx) - before

    @staticmethod
    def _count(tx: Transaction) -> int:
        return sum(int(n) for _, n in tx.connection.execute(tx.q(sql.DELIVERY_COUNTS)))

    def claim(self, channel: str, now: float, *, owner: str, lease: float, limit: int) -> list[Delivery]:
        with self.store.transaction() as tx:  # the write lock: no other worker claims in between
            row = tx.connection.execute(tx.q(sql.DELIVERY_HEAD), (channel,)).fetchone()
            if row is None or float(row[5]) > now or (row[9] is not None and float(row[9]) > now):
                return []
            tx.connection.execute(tx.q(sql.CLAIM_DELIVERY), (owner, now + lease, row[0]))
            return [_delivery(row)]

    def next_due(self, channel: str) -> Optional[float]:
        with self.store.reading() as tx:
            row = tx.connection.execute(tx.q(sql.DELIVERY_HEAD), (channel,)).fetchone()
        if row is None:
            return None
        return max(float(row[5]), float(row[9]) if row[9] is not None else 0.0)

    def _settle(self, key: str, state: str, attempts: int, next_at: float, error: str) -> None:
        with self.store.transaction() as tx:
            tx.connection.execute(tx.q(sql.SETTLE_DELIVERY), (state, attempts, next_at, error[:300], time.time(), key))

    def mark_sent(self, key: str, now: float, attempts: int) -> None:
        with self.store.transaction() as tx:
            tx.connection.execute(tx.q(sql.MARK_SENT), (attempts, time.time(), key))

    def mark_retry(self, key: str, next_at: float, attempts: int, error: str) -> None:
        self._settle(key, "pending", attempts, next_at, error)

    def mark_failed(self, key: str, attempts: int, error: str) -> None:
        self._settle(key, "failed", attempts, time.time(), error)

    def prune(self, before: float) -> int:
        """Forget deliveries settled (sent or failed) before ``before``; pending ones stay."""
        with self.store.transaction() as tx:
            return int(tx.connection.execute(tx.q(sql.PRUNE_DELIVERIES), (before,)).rowcount or 0)

    def pending(self) -> list[Delivery]:
        with self.store.reading() as tx:
            return [_delivery(r) for r in tx.connection.execute(tx.q(sql.PENDING_DELIVERIES))]

    def counts(self) -> DeliveryCounts:
        with self.store.reading() as tx:
            states = {row[0]: int(row[1]) for row in tx.connection.execute(tx.q(sql.DELIVERY_COUNTS))}
            last = tx.connection.execute(tx.q(sql.LAST_DELIVERY_ERROR)).fetchone()
        return DeliveryCounts(states.get("pending", 0), states.get("failed", 0), states.get("sent", 0),
                              last[0] if last else None)
