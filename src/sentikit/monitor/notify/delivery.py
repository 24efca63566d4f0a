"""Delivering alerts for sure: every (alert, channel) pair is a :class:`Delivery` in an
:class:`Outbox`, tried by a background thread per channel with exponential back-off and jitter
(``Retry-After`` honoured on 429/503) until it is delivered, refused for good, or its retry period
ends. :class:`MemoryOutbox` serves ``sentikit monitor``; the desk's store provides a persistent one
with the same interface (claims with a lease, so several replicas deliver each alert once)."""

from __future__ import annotations

import os
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence

from ..events import Alert, Event, Recovery, WebhookFailed
from .channels import AttemptResult, Channel
from .message import AlertMessage, delivery_key, message_from_event, sample_message

__all__ = [
    "DEFAULT_RETRY_HOURS", "Delivery", "DeliveryCounts", "MemoryOutbox", "Notifier", "Outbox", "TestResult",
    "backoff_delay", "deliveries_for", "send_test_alert",
]

DEFAULT_RETRY_HOURS = 24.0
_MAX_LAST_ERROR = 300


@dataclass(frozen=True)
class Delivery:
    """One alert to one channel, and how its delivery is going."""

    key: str  # idempotency key (unique per alert and channel)
    channel: str  # Channel.id
    message: AlertMessage
    created: float
    deadline: float  # give up after this (epoch seconds)
    next_at: float  # next attempt not before this
    attempts: int = 0
    state: str = "pending"  # pending, sent, failed
    last_error: str = ""


@dataclass(frozen=True)
class DeliveryCounts:
    """What ``/v1/monitor/state`` and the summary show as ``deliveries``."""

    pending: int = 0
    failed: int = 0
    sent: int = 0
    last_error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"pending": self.pending, "failed": self.failed, "sent": self.sent, "last_error": self.last_error}


class Outbox(Protocol):
    """Where deliveries wait. Implementations must make :meth:`claim` exclusive: a claimed delivery
    is not handed to anyone else until it is marked or its lease runs out."""

    def add(self, deliveries: Sequence[Delivery]) -> int:
        """Store new deliveries (a key already stored is left as it is); returns how many were new."""
        ...

    def claim(self, channel: str, now: float, *, owner: str, lease: float, limit: int) -> list[Delivery]:
        """The oldest pending delivery of ``channel`` if it is due by ``now`` and not claimed, now claimed
        by ``owner`` for ``lease`` seconds (at most ``limit``). Oldest first keeps a channel in order:
        a recovery never overtakes its alert."""
        ...

    def next_due(self, channel: str) -> Optional[float]:
        """When the oldest pending delivery of ``channel`` is due (or its claim ends), or ``None``."""
        ...

    def mark_sent(self, key: str, now: float, attempts: int) -> None: ...

    def mark_retry(self, key: str, next_at: float, attempts: int, error: str) -> None: ...

    def mark_failed(self, key: str, attempts: int, error: str) -> None: ...

    def pending(self) -> list[Delivery]:
        """Every delivery not yet sent or failed, oldest first."""
        ...

    def counts(self) -> DeliveryCounts: ...


class MemoryOutbox:
    """An :class:`Outbox` in this process's memory (``sentikit monitor``: gone when the command ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Delivery] = {}  # pending and failed; sent ones are only counted
        self._sent: set[str] = set()
        self._claims: dict[str, float] = {}
        self._last_error: Optional[str] = None

    def add(self, deliveries: Sequence[Delivery]) -> int:
        with self._lock:
            new = [d for d in deliveries if d.key not in self._items and d.key not in self._sent]
            self._items.update((d.key, d) for d in new)
            return len(new)

    def claim(self, channel: str, now: float, *, owner: str, lease: float, limit: int) -> list[Delivery]:
        with self._lock:
            head = self._head(channel)
            if head is None or head.next_at > now or self._claims.get(head.key, 0.0) > now:
                return []
            self._claims[head.key] = now + lease
            return [head]

    def next_due(self, channel: str) -> Optional[float]:
        with self._lock:
            head = self._head(channel)
            return None if head is None else max(head.next_at, self._claims.get(head.key, 0.0))

    def _head(self, channel: str) -> Optional[Delivery]:
        waiting = [d for d in self._items.values() if d.channel == channel and d.state == "pending"]
        return min(waiting, key=lambda d: d.created) if waiting else None

    def _update(self, key: str, **changes: Any) -> None:
        with self._lock:
            current = self._items.get(key)
            if current is None or current.state != "pending":
                return  # already settled (e.g. given up on at close)
            self._items[key] = replace(current, **changes)
            self._claims.pop(key, None)
            if changes.get("state") == "sent":  # a long --follow run must not keep every message it sent
                del self._items[key]
                self._sent.add(key)
            if changes.get("last_error"):
                self._last_error = changes["last_error"]

    def mark_sent(self, key: str, now: float, attempts: int) -> None:
        self._update(key, state="sent", attempts=attempts)

    def mark_retry(self, key: str, next_at: float, attempts: int, error: str) -> None:
        self._update(key, next_at=next_at, attempts=attempts, last_error=error[:_MAX_LAST_ERROR])

    def mark_failed(self, key: str, attempts: int, error: str) -> None:
        self._update(key, state="failed", attempts=attempts, last_error=error[:_MAX_LAST_ERROR])

    def pending(self) -> list[Delivery]:
        with self._lock:
            return sorted((d for d in self._items.values() if d.state == "pending"), key=lambda d: d.created)

    def counts(self) -> DeliveryCounts:
        with self._lock:
            states = [d.state for d in self._items.values()]
            return DeliveryCounts(states.count("pending"), states.count("failed"), len(self._sent), self._last_error)


def deliveries_for(message: AlertMessage, channels: Sequence[Channel], now: float, retry_hours: float) -> list[Delivery]:
    """One new :class:`Delivery` of ``message`` per channel, due now, given up after ``retry_hours``."""
    return [Delivery(key=delivery_key(message.alert_id, c.id), channel=c.id, message=message, created=now,
                     deadline=now + retry_hours * 3600.0, next_at=now) for c in channels]


def backoff_delay(attempts: int, *, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``base * 2**(attempts-1)`` capped at
    ``cap``, then jittered into its upper half (so many senders do not retry in lockstep)."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay * (0.5 + 0.5 * rng())


def default_owner() -> str:
    """Who claims deliveries: host and process, unique among replicas."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10_000}"


class Notifier:
    """Send alerts and recoveries to channels without ever blocking the caller.

    ``submit`` turns a monitor event into one :class:`Delivery` per channel in the ``outbox``; a thread
    per channel delivers them. Failures that are final come back as :class:`WebhookFailed` from
    :meth:`drain`; :meth:`counts` is what dashboards show.

    Args:
        retry_hours: keep retrying a delivery for this long (``--alert-retry-hours``).
        base_backoff, max_backoff: the first retry's delay and the longest one, in seconds.
        max_attempts: give up after this many attempts even within ``retry_hours`` (``None``: no limit).
        timeout: seconds for one attempt.
        poll_interval: how often a worker looks at the outbox without being woken (another process
            may have added deliveries to a shared one).
        abandon_on_close: on :meth:`close`, mark what is still pending as failed (an in-memory outbox
            would lose it anyway); a persistent outbox keeps it for the next start.
    """

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        outbox: Optional[Outbox] = None,
        public_url: Optional[str] = None,
        retry_hours: float = DEFAULT_RETRY_HOURS,
        base_backoff: float = 1.0,
        max_backoff: float = 60.0,  # an alert is late by at most this once its receiver is back
        max_attempts: Optional[int] = None,
        timeout: float = 10.0,
        poll_interval: float = 30.0,
        lease: float = 30.0,
        abandon_on_close: bool = True,
        owner: Optional[str] = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.channels = list(channels)
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self.public_url = public_url
        self.retry_seconds = retry_hours * 3600.0
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.lease = max(lease, timeout * 2)  # longer than any attempt: a claim outlives only a dead claimant
        self.abandon_on_close = abandon_on_close
        self.owner = owner or default_owner()
        self.clock = clock
        self.rng = rng
        self.sent = 0
        self.failed = 0
        self._by_id = {c.id: c for c in self.channels}
        self._outcomes: queue.Queue[WebhookFailed] = queue.Queue()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._closed = False
        self._count_lock = threading.Lock()  # one worker thread per channel counts into sent/failed
        self._threads = [threading.Thread(target=self._work, args=(c,), name=f"sentikit-notify-{c.format}", daemon=True)
                         for c in self.channels]
        for thread in self._threads:
            thread.start()

    def submit(self, event: Event) -> None:
        """Queue an alert or recovery for every channel; never blocks on the network."""
        if isinstance(event, (Alert, Recovery)):
            self.enqueue(message_from_event(event, public_url=self.public_url))

    def deliveries_for(self, message: AlertMessage, now: Optional[float] = None) -> list[Delivery]:
        """The deliveries of ``message``, one per channel (what a store writes with the alert)."""
        return deliveries_for(message, self.channels, self.clock() if now is None else now, self.retry_seconds / 3600.0)

    def enqueue(self, message: AlertMessage) -> None:
        """Add ``message``'s deliveries to the outbox and wake the workers."""
        self.outbox.add(self.deliveries_for(message))
        self.wake()

    def wake(self) -> None:
        """Tell the workers to look at the outbox now (after deliveries were added elsewhere)."""
        with self._wake:
            self._wake.notify_all()

    def drain(self) -> list[WebhookFailed]:
        """Deliveries given up on since the last call."""
        failures = []
        while True:
            try:
                failures.append(self._outcomes.get_nowait())
            except queue.Empty:
                return failures

    def counts(self) -> DeliveryCounts:
        return self.outbox.counts()

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` seconds for pending deliveries, then stop the workers (and, with
        ``abandon_on_close``, report what is left as not delivered)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while self.outbox.pending() and time.monotonic() < deadline:
            self._stop.wait(min(0.02, max(0.0, deadline - time.monotonic())))
        self._stop.set()
        self.wake()
        if self.abandon_on_close:
            for delivery in self.outbox.pending():
                self._give_up(delivery, delivery.attempts, f"not delivered before exit (gave up after {timeout:g}s)")
        self._closed = True
        for thread in self._threads:
            thread.join(0.5)

    def _give_up(self, delivery: Delivery, attempts: int, error: str) -> None:
        channel = self._by_id.get(delivery.channel)
        label = channel.label if channel else delivery.channel
        self.outbox.mark_failed(delivery.key, attempts, f"{label}: {error}")
        if self._closed:
            return
        with self._count_lock:
            self.failed += 1
        self._outcomes.put(WebhookFailed(url=label, about=delivery.message.kind, position=delivery.message.position,
                                         attempts=attempts, error=error))

    def _work(self, channel: Channel) -> None:
        while not self._stop.is_set():
            batch = self.outbox.claim(channel.id, self.clock(), owner=self.owner, lease=self.lease, limit=10)
            for delivery in batch:
                if self._stop.is_set():
                    return
                self._attempt(channel, delivery)
            if batch:
                continue
            due = self.outbox.next_due(channel.id)
            wait = self.poll_interval if due is None else min(self.poll_interval, max(0.0, due - self.clock()))
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(wait)

    def _attempt(self, channel: Channel, delivery: Delivery) -> None:
        try:
            result = channel.send(delivery.message, delivery.key, self.timeout)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not kill its worker thread
            result = AttemptResult(False, "", f"{type(exc).__name__}: {exc}")
        attempts = delivery.attempts + 1
        now = self.clock()
        if self._stop.is_set() and self.abandon_on_close:
            return  # close() has settled it
        if result.ok:
            self.outbox.mark_sent(delivery.key, now, attempts)
            with self._count_lock:
                self.sent += 1
            return
        out_of_time = now >= delivery.deadline
        if not result.retry or out_of_time or (self.max_attempts is not None and attempts >= self.max_attempts):
            self._give_up(delivery, attempts, result.error)
            return
        delay = result.retry_after if result.retry_after is not None else backoff_delay(
            attempts, base=self.base_backoff, cap=self.max_backoff, rng=self.rng)
        self.outbox.mark_retry(delivery.key, min(now + delay, delivery.deadline), attempts, f"{channel.label}: {result.error}")


@dataclass(frozen=True)
class TestResult:
    """What one channel answered to ``--test-alert``."""

    __test__ = False  # not a pytest class

    channel: str
    format: str
    ok: bool
    status: str
    error: str
    seconds: float
    idempotency_key: str


def send_test_alert(channels: Iterable[Channel], *, public_url: Optional[str] = None,
                    timeout: float = 10.0) -> list[TestResult]:
    """Send one sample alert to each channel, once, and report each answer (no retries: this checks a setup)."""
    message = sample_message(public_url=public_url)
    results = []
    for channel in channels:
        key = delivery_key(message.alert_id, channel.id)
        started = time.monotonic()
        try:
            outcome = channel.send(message, key, timeout)
        except Exception as exc:  # noqa: BLE001 - reported, like any other failed answer
            outcome = AttemptResult(False, "", f"{type(exc).__name__}: {exc}")
        results.append(TestResult(channel.label, channel.format, outcome.ok, outcome.status, outcome.error,
                                  round(time.monotonic() - started, 3), key))
    return results

