"""The pure core: a rolling window (last N texts, or last S seconds of event time) and the alert
state machine. No I/O, no clock: feed it records and scores, get :class:`Alert` / :class:`Recovery` back."""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..errors import InvalidInputError
from ..score import check_fraction, is_positive
from .events import Alert, Event, Record, Recovery, Status, TextSample, WindowStats, iso

__all__ = ["DEFAULT_SAMPLES", "DEFAULT_TIME_MIN_COUNT", "MonitorConfig", "WindowMonitor"]

DEFAULT_SAMPLES = 5
DEFAULT_TIME_MIN_COUNT = 10
_SAMPLE_CHARS = 400  # how much of a text an alert quotes


@dataclass(frozen=True)
class MonitorConfig:
    """What to watch for.

    Args:
        alert_below: alert when the rolling mean falls below this.
        recover_above: recover when the mean reaches this again (default ``alert_below``).
        window: window size in texts (the last N), or
        window_seconds: window length in seconds of event time.
        min_count: no alert (or recovery) with fewer texts than this in the window
            (default: the full window for ``window``, 10 for ``window_seconds``).
        threshold: scores below it count as negative in window stats.
        samples: how many of the lowest-scored texts an alert quotes.
    """

    alert_below: float
    recover_above: Optional[float] = None
    window: Optional[int] = None
    window_seconds: Optional[float] = None
    min_count: Optional[int] = None
    threshold: float = 0.5
    samples: int = DEFAULT_SAMPLES

    def __post_init__(self) -> None:
        if (self.window is None) == (self.window_seconds is None):
            raise InvalidInputError("give exactly one of --window N and --window-seconds S")
        if self.window is not None and self.window < 1:
            raise InvalidInputError(f"--window must be at least 1, got {self.window}")
        if self.window_seconds is not None and not self.window_seconds > 0:
            raise InvalidInputError(f"--window-seconds must be positive, got {self.window_seconds}")
        check_fraction(self.alert_below, "--alert-below")
        check_fraction(self.threshold, "--threshold")
        if self.recover_above is not None and not self.alert_below <= check_fraction(self.recover_above, "--recover-above"):
            raise InvalidInputError(
                f"--recover-above must be between --alert-below ({self.alert_below}) and 1, got {self.recover_above}"
            )
        if self.min_count is not None and self.min_count < 1:
            raise InvalidInputError(f"--min-count must be at least 1, got {self.min_count}")
        if self.window is not None and self.effective_min_count > self.window:
            raise InvalidInputError(
                f"--min-count {self.effective_min_count} is larger than --window {self.window}: no alert could ever fire"
            )
        if self.samples < 0:
            raise InvalidInputError(f"samples must be 0 or more, got {self.samples}")

    @property
    def effective_recover_above(self) -> float:
        return self.alert_below if self.recover_above is None else self.recover_above

    @property
    def effective_min_count(self) -> int:
        if self.min_count is not None:
            return self.min_count
        return self.window if self.window is not None else DEFAULT_TIME_MIN_COUNT


class WindowMonitor:
    """Rolling window and alert state machine; pure (no I/O, no clock).

    The state machine has two states. From ``ok``, the first text that brings the mean
    below ``alert_below`` (with at least ``min_count`` texts in the window) fires one
    :class:`Alert`; while in ``alert`` nothing more fires until the mean reaches
    ``recover_above``, which fires one :class:`Recovery`.

    Time windows keep the texts whose event time is within ``window_seconds`` of the
    newest event time seen; a text arriving already older than that is counted but not
    windowed. Without timestamps the event time is the arrival time, and :meth:`expire`
    lets an idle window shrink.
    """

    def __init__(self, config: MonitorConfig, *, model: Optional[dict[str, Any]] = None) -> None:
        self.config = config
        self.model = dict(model or {})
        self._alert_below = config.alert_below
        self._recover_above = config.effective_recover_above
        self._min_count = config.effective_min_count
        self._size = config.window
        self._seconds = config.window_seconds
        # (event time, score, position, record); kept in event-time order for time windows.
        self._items: deque[tuple[float, float, int, Record]] = deque()
        self._sum = 0.0
        self._updates = 0
        self._newest = -math.inf
        self._event_time = False  # True once a record carried its own timestamp
        self.position = 0
        self.alerting = False
        self.alerts = 0
        self.recoveries = 0
        self._alert_position = 0
        self._last: Optional[tuple[int, Record]] = None

    # -- window ---------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def mean(self) -> Optional[float]:
        return self._sum / len(self._items) if self._items else None

    @property
    def state(self) -> str:
        if self.alerting:
            return "alert"
        return "ok" if len(self._items) >= self._min_count else "warming"

    def _insert(self, item: tuple[float, float, int, Record]) -> None:
        items = self._items
        if self._seconds is None or not items or item[0] >= items[-1][0]:
            items.append(item)
        else:  # out-of-order timestamp: insert in place (late texts are usually near the end)
            index = len(items)
            while index > 0 and items[index - 1][0] > item[0]:
                index -= 1
            items.insert(index, item)
        self._sum += item[1]

    def _evict(self) -> None:
        items = self._items
        if self._size is not None:
            while len(items) > self._size:
                self._sum -= items.popleft()[1]
        else:
            cutoff = self._newest - self._seconds  # type: ignore[operator]
            while items and items[0][0] <= cutoff:
                self._sum -= items.popleft()[1]
        self._updates += 1
        if not items:
            self._sum = 0.0
        elif self._updates % 50_000 == 0:  # keep float drift of the running sum in check
            self._sum = math.fsum(item[1] for item in items)

    # -- feeding --------------------------------------------------------------
    def add(self, record: Record, score: float) -> Optional[Event]:
        """Add one scored text; return the Alert or Recovery it caused, if any."""
        self.position += 1
        self._last = (self.position, record)
        when = record.time
        if record.timestamped:
            self._event_time = True
        elif self._event_time:
            when = self._newest  # an untimed text in a timed stream happens "now" in event time
        if self._seconds is not None:
            if when <= self._newest - self._seconds:
                return None  # older than the whole window: counted, not windowed
            if when > self._newest:
                self._newest = when
        self._insert((when, float(score), self.position, record))
        self._evict()
        return self._transition()

    def add_many(self, records: Iterable[Record], scores: Iterable[float]) -> list[Event]:
        """Add scored texts in order; return the events they caused."""
        events = []
        for record, score in zip(records, scores):
            event = self.add(record, score)
            if event is not None:
                events.append(event)
        return events

    def restore(
        self, items: Iterable[tuple[Record, float]], *, position: int, alerting: bool, alerts: int, recoveries: int,
        alert_position: int, reset: bool = False,
    ) -> None:
        """Replay stored texts (in arrival order) into the window, then take the alert state as stored.

        What the replay would raise is not raised again: the store already holds those events (a
        restart, or texts another worker took). ``reset`` empties the window first.
        """
        if reset:
            self._items.clear()
            self._sum, self._newest, self._event_time, self._last = 0.0, -math.inf, False, None
        for record, score in items:
            self.add(record, score)
        self.position, self.alerting, self.alerts, self.recoveries = position, alerting, alerts, recoveries
        self._alert_position = alert_position

    @property
    def alert_position(self) -> int:
        """The position of the text that raised the current (or last) alert."""
        return self._alert_position

    def window_records(self) -> list[tuple[Record, float]]:
        """The texts in the window and their scores (event-time order for time windows)."""
        return [(item[3], item[1]) for item in self._items]

    def expire(self, now: float) -> Optional[Event]:
        """Advance an arrival-time window to ``now`` while no texts arrive (no-op with event time)."""
        if self._seconds is None or self._event_time or now <= self._newest:
            return None
        self._newest = now
        before = len(self._items)
        self._evict()
        return self._transition() if len(self._items) != before else None

    def _transition(self) -> Optional[Event]:
        count = len(self._items)
        if count < self._min_count or self._last is None:
            return None
        mean = self._sum / count
        position, record = self._last
        if not self.alerting and mean < self._alert_below:
            self.alerting = True
            self.alerts += 1
            self._alert_position = position
            return Alert(
                position=position, line=record.line, time=iso(record.time), mean=mean,
                alert_below=self._alert_below, recover_above=self._recover_above,
                window=self.stats(), samples=self.samples(), model=self.model,
            )
        if self.alerting and mean >= self._recover_above:
            self.alerting = False
            self.recoveries += 1
            return Recovery(
                position=position, line=record.line, time=iso(record.time), mean=mean,
                alert_below=self._alert_below, recover_above=self._recover_above,
                window=self.stats(), alert_position=self._alert_position,
                texts_in_alert=position - self._alert_position,
                samples=self.samples(lowest=False), model=self.model,
            )
        return None

    # -- reporting ------------------------------------------------------------
    def stats(self) -> WindowStats:
        """Mean, count, min, max, negatives and time span of the current window."""
        items = self._items
        if not items:
            return WindowStats(None, 0, None, None, 0, 0.0, None, None)
        scores = [item[1] for item in items]
        threshold = self.config.threshold
        start, end = items[0][0], items[-1][0]
        if self._seconds is None:  # count windows are in arrival order, not time order
            times = [item[0] for item in items]
            start, end = min(times), max(times)
        return WindowStats(
            mean=self._sum / len(items), count=len(items), min=min(scores), max=max(scores),
            negative=sum(1 for s in scores if not is_positive(s, threshold)), span_seconds=end - start,
            start=iso(start), end=iso(end),
        )

    def samples(self, *, lowest: bool = True) -> list[TextSample]:
        """The lowest- (or highest-) scored texts in the window: what drove the change."""
        threshold = self.config.threshold
        # Quote only texts on the side that drove the change, when there are any.
        side = [i for i in self._items if is_positive(i[1], threshold) != lowest] or list(self._items)
        if lowest:
            chosen = heapq.nsmallest(self.config.samples, side, key=lambda item: (item[1], item[2]))
        else:
            chosen = heapq.nlargest(self.config.samples, side, key=lambda item: (item[1], -item[2]))
        return [
            TextSample(text=r.text[:_SAMPLE_CHARS], score=score, line=r.line, id=r.id, time=iso(t) if r.timestamped else None)
            for t, score, _position, r in chosen
        ]

    def status(self, *, bad_lines: int = 0, now: Optional[float] = None) -> Status:
        last_time = self._last[1].time if self._last else now
        return Status(
            state=self.state, position=self.position, time=iso(last_time), window=self.stats(),
            texts=self.position, bad_lines=bad_lines, alerts=self.alerts, recoveries=self.recoveries,
        )
