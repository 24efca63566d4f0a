"""What the monitor reports: the arrived :class:`Record`, window stats, and the events (alert, recovery,
status, bad line, source notice, webhook failure, summary), each with ``to_dict()`` as its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, ClassVar, NamedTuple, Optional

from .._json import to_jsonable

__all__ = [
    "Alert", "BadLine", "Event", "Record", "Recovery", "SourceNotice", "Status", "Summary", "TextSample",
    "WebhookFailed", "WindowStats", "iso",
]

_FLOAT_DIGITS = 6  # scores and means in events: enough to compare, short to read


def iso(ts: Optional[float]) -> Optional[str]:
    """Epoch seconds as ISO 8601 UTC with milliseconds (``2024-05-01T10:00:00.000Z``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")



class Record(NamedTuple):
    """One text as it arrived: its input line, optional id, and event time (epoch seconds)."""

    text: str
    line: int
    time: float
    id: Optional[str] = None
    timestamped: bool = False  # True when ``time`` came from the record, not the arrival clock


@dataclass(frozen=True)
class TextSample:
    """A scored text quoted in an alert (the lowest-scored texts in the window)."""

    text: str
    score: float
    line: int
    id: Optional[str]
    time: Optional[str]


@dataclass(frozen=True)
class WindowStats:
    """The rolling window at one moment."""

    mean: Optional[float]
    count: int
    min: Optional[float]
    max: Optional[float]
    negative: int  # texts scored below the label threshold
    span_seconds: float  # newest minus oldest event time in the window
    start: Optional[str]
    end: Optional[str]


class Event:
    """Base of everything the monitor reports; ``to_dict()`` is the JSON form (``event`` first)."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: to_jsonable(getattr(self, f.name), float_digits=_FLOAT_DIGITS) for f in fields(self)}  # type: ignore[arg-type]
        return {"event": self.kind, **values}


@dataclass(frozen=True)
class Alert(Event):
    """The rolling mean crossed below ``alert_below``."""

    kind: ClassVar[str] = "alert"
    position: int  # 1-based index of the text that tipped the mean
    line: int
    time: Optional[str]
    mean: float
    alert_below: float
    recover_above: float
    window: WindowStats
    samples: list[TextSample]
    model: dict[str, Any]


@dataclass(frozen=True)
class Recovery(Event):
    """The rolling mean came back to ``recover_above`` or more after an alert."""

    kind: ClassVar[str] = "recovery"
    position: int
    line: int
    time: Optional[str]
    mean: float
    alert_below: float
    recover_above: float
    window: WindowStats
    alert_position: int
    texts_in_alert: int  # texts seen between the alert and this recovery
    samples: list[TextSample]
    model: dict[str, Any]


@dataclass(frozen=True)
class Status(Event):
    """A periodic snapshot: state, window and counters."""

    kind: ClassVar[str] = "status"
    state: str  # "warming" (fewer than min_count texts), "ok" or "alert"
    position: int
    time: Optional[str]
    window: WindowStats
    texts: int
    bad_lines: int
    alerts: int
    recoveries: int


@dataclass(frozen=True)
class BadLine(Event):
    """An input line that could not be used (reported, counted, skipped)."""

    kind: ClassVar[str] = "bad_line"
    line: int
    reason: str
    excerpt: str


@dataclass(frozen=True)
class SourceNotice(Event):
    """Something happened to the followed file: ``waiting``, ``opened``, ``truncated`` or ``rotated``."""

    kind: ClassVar[str] = "source"
    action: str
    path: str


@dataclass(frozen=True)
class WebhookFailed(Event):
    """A webhook POST was given up on after its retries (monitoring carries on)."""

    kind: ClassVar[str] = "webhook_failed"
    url: str  # scheme://host/… only: webhook paths often carry tokens
    about: str  # the event kind that was being delivered
    position: int
    attempts: int
    error: str


@dataclass(frozen=True)
class Summary(Event):
    """What a monitoring run saw, returned when the input ends or on Ctrl-C."""

    kind: ClassVar[str] = "summary"
    texts: int
    bad_lines: int
    alerts: int
    recoveries: int
    final_mean: Optional[float]
    state: str
    window: WindowStats
    seconds: float
    texts_per_second: float
    webhooks_sent: int
    webhooks_failed: int
    interrupted: bool
    model: dict[str, Any]
