"""Watching sentiment: score texts as they arrive and alert when the rolling mean turns negative.

The pieces, from the inside out:

* :class:`WindowMonitor` - the pure core: a rolling window (last N texts, or last S seconds
  of event time) plus the alert state machine. No I/O, no clock: feed it records and
  scores, get :class:`Alert` / :class:`Recovery` events back.
* :class:`LineParser` - turns raw input lines (plain text or JSON lines) into records or
  :class:`BadLine` events.
* :func:`open_input` - the sources: a file, stdin, or a file followed like ``tail -F``
  (poll-based, survives truncation and rotation).
* :class:`WebhookNotifier` - POSTs alerts and recoveries from a background thread, with
  a timeout and bounded retries, so a slow or failing webhook never blocks monitoring.
* :func:`run_monitor` - the loop: read what is available, score it in micro-batches,
  feed the core, report events, and return a :class:`Summary`.

A *scorer* is anything with ``score(list[str]) -> list[float]``: a local
:class:`~sentikit.model.SentimentModel` or a :class:`~sentikit.remote.RemoteScorer`.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, ClassVar, Iterable, Iterator, NamedTuple, Optional, Protocol, Union
from urllib.parse import urlsplit

from . import __version__
from .data import open_data_file
from .errors import DataError, InvalidInputError, ServerError

DEFAULT_BATCH_SIZE = 1000  # also the server's default max batch, so --url works unchanged
DEFAULT_SAMPLES = 5
DEFAULT_TIME_MIN_COUNT = 10
# Epoch values above this are taken as milliseconds (1e11 s is the year 5138).
_EPOCH_MS_CUTOFF = 1e11
_EXCERPT_CHARS = 200
_ISO_ACCEPTS_Z = sys.version_info >= (3, 11)  # datetime.fromisoformat reads "Z" itself since 3.11


class Scorer(Protocol):
    def score(self, texts: list[str]) -> list[float]: ...


def iso(ts: Optional[float]) -> Optional[str]:
    """Epoch seconds as ISO 8601 UTC with milliseconds (``2024-05-01T10:00:00.000Z``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from ISO 8601 text or epoch seconds (int, float or numeric text).

    Values above 1e11 are taken as epoch milliseconds; ISO times without an offset are UTC.
    Raises ``ValueError`` for anything else.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if "-" not in text[1:] and ":" not in text:  # numeric text: epoch seconds
            seconds = float(text)
        else:
            if text[-1:] in ("Z", "z") and not _ISO_ACCEPTS_Z:
                text = text[:-1] + "+00:00"
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            seconds = moment.timestamp()
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"not a timestamp: {value!r}")
    return seconds / 1000.0 if abs(seconds) > _EPOCH_MS_CUTOFF else seconds


# --- records and events -----------------------------------------------------------------------


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
        return {"event": self.kind, **{f.name: _plain(getattr(self, f.name)) for f in fields(self)}}  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 6)
    return value


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


# --- the pure core: window + state machine ------------------------------------------------


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
        for name, value in (("--alert-below", self.alert_below), ("--threshold", self.threshold)):
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"{name} must be between 0 and 1, got {value}")
        if self.recover_above is not None and not self.alert_below <= self.recover_above <= 1.0:
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
            negative=sum(1 for s in scores if s < threshold), span_seconds=end - start,
            start=iso(start), end=iso(end),
        )

    def samples(self, *, lowest: bool = True) -> list[TextSample]:
        """The lowest- (or highest-) scored texts in the window: what drove the change."""
        threshold = self.config.threshold
        # Quote only texts on the side that drove the change, when there are any.
        side = [i for i in self._items if (i[1] < threshold) == lowest] or list(self._items)
        if lowest:
            chosen = heapq.nsmallest(self.config.samples, side, key=lambda item: (item[1], item[2]))
        else:
            chosen = heapq.nlargest(self.config.samples, side, key=lambda item: (item[1], -item[2]))
        return [
            TextSample(text=r.text[:_EXCERPT_CHARS * 2], score=score, line=r.line, id=r.id, time=iso(t) if r.timestamped else None)
            for t, score, _position, r in chosen
        ]

    def status(self, *, bad_lines: int = 0, now: Optional[float] = None) -> Status:
        last_time = self._last[1].time if self._last else now
        return Status(
            state=self.state, position=self.position, time=iso(last_time), window=self.stats(),
            texts=self.position, bad_lines=bad_lines, alerts=self.alerts, recoveries=self.recoveries,
        )


# --- parsing input lines ------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFormat:
    """How to read lines: ``text`` (one text a line), ``jsonl``, or ``auto`` (JSON when the first line is)."""

    kind: str = "auto"
    text_field: str = "text"
    time_field: str = "timestamp"
    id_field: str = "id"

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "text", "jsonl"):
            raise InvalidInputError(f"unknown input format {self.kind!r} (use auto, text or jsonl)")


class LineParser:
    """Raw lines (bytes, without the newline) to :class:`Record` or :class:`BadLine`."""

    def __init__(self, fmt: InputFormat = InputFormat()) -> None:
        self.fmt = fmt
        self.json_mode: Optional[bool] = {"auto": None, "text": False, "jsonl": True}[fmt.kind]
        self.line = 0

    def parse(self, raw: bytes, arrival: float) -> Union[Record, BadLine, None]:
        """The record on this line, a BadLine, or None for a blank line."""
        self.line += 1
        line = self.line
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return BadLine(line=line, reason=f"not valid UTF-8 (byte {exc.start + 1})", excerpt=_excerpt(raw.decode("utf-8", "replace")))
        if text.endswith("\r"):
            text = text[:-1]
        if not text.strip():
            return None
        if self.json_mode is None:
            self.json_mode = text.lstrip().startswith("{")
        if not self.json_mode:
            return Record(text=text, line=line, time=arrival)
        return self._parse_json(text, line, arrival)

    def _parse_json(self, text: str, line: int, arrival: float) -> Union[Record, BadLine]:
        fmt = self.fmt
        try:
            obj = json.loads(text)
        except ValueError as exc:
            return BadLine(line=line, reason=f"invalid JSON ({getattr(exc, 'msg', exc)})", excerpt=_excerpt(text))
        if not isinstance(obj, dict):
            return BadLine(line=line, reason="not a JSON object", excerpt=_excerpt(text))
        value = obj.get(fmt.text_field)
        if not isinstance(value, str):
            reason = f"no '{fmt.text_field}' field" if value is None else f"'{fmt.text_field}' is not a string"
            return BadLine(line=line, reason=reason, excerpt=_excerpt(text))
        if not value.strip():
            return BadLine(line=line, reason=f"'{fmt.text_field}' is empty", excerpt=_excerpt(text))
        when, stamped = arrival, False
        raw_time = obj.get(fmt.time_field)
        if raw_time is not None:
            try:
                when, stamped = parse_timestamp(raw_time), True
            except (ValueError, OverflowError, OSError):
                return BadLine(line=line, reason=f"'{fmt.time_field}' is not ISO 8601 or epoch seconds", excerpt=_excerpt(text))
        raw_id = obj.get(fmt.id_field)
        return Record(text=value, line=line, time=when, id=None if raw_id is None else str(raw_id), timestamped=stamped)


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


# --- sources ------------------------------------------------------------------------------------

# A source yields lists of raw lines (an empty list = nothing new yet) or notices.
Chunk = Union[list[bytes], SourceNotice]


def _split(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    lines = (pending + data).split(b"\n") if pending else data.split(b"\n")
    return lines, lines.pop()


def read_stream(stream: IO[bytes], *, chunk_size: int = 1 << 20) -> Iterator[Chunk]:
    """Lines of a binary stream that ends (a file, or stdin), read in big chunks."""
    reader = getattr(stream, "read1", stream.read)
    pending = b""
    while data := reader(chunk_size):
        lines, pending = _split(pending, data)
        if lines:
            yield lines
    if pending:
        yield [pending]


def read_live_stream(stream: IO[bytes], *, tick: float = 0.25, chunk_size: int = 1 << 16) -> Iterator[Chunk]:
    """Lines of a stream that may pause (a pipe): read in a thread so idle ticks still come."""
    chunks: queue.Queue[Union[bytes, BaseException, None]] = queue.Queue(maxsize=64)

    def pump() -> None:
        reader = getattr(stream, "read1", stream.read)
        try:
            while data := reader(chunk_size):
                chunks.put(data)
        except BaseException as exc:  # forwarded to the consumer
            chunks.put(exc)
        chunks.put(None)

    threading.Thread(target=pump, name="sentikit-monitor-stdin", daemon=True).start()
    pending = b""
    while True:
        try:
            data = chunks.get(timeout=tick)
        except queue.Empty:
            yield []
            continue
        if data is None:
            break
        if isinstance(data, BaseException):
            raise DataError(f"cannot read input: {data}") from data
        lines, pending = _split(pending, data)
        yield lines
    if pending:
        yield [pending]


def follow_file(
    path: str,
    *,
    from_end: bool = False,
    poll_interval: float = 0.05,
    max_poll_interval: float = 0.25,
    stop: Optional[threading.Event] = None,
    chunk_size: int = 1 << 20,
) -> Iterator[Chunk]:
    """Follow a file like ``tail -F``: poll for appended lines, reopen it when it is rotated
    (renamed or deleted and recreated) and start over when it is truncated.

    The wait between polls starts at ``poll_interval`` and doubles up to
    ``max_poll_interval`` while the file is idle, so a new line waits at most that long.
    A partial last line is held until its newline arrives (or the file is rotated).
    Runs until ``stop`` is set (or the consumer stops iterating).
    """
    stop = stop or threading.Event()
    handle: Optional[IO[bytes]] = None
    identity: Optional[tuple[int, int]] = None
    pending = b""
    first = True
    delay = poll_interval

    def idle() -> Iterator[Chunk]:
        nonlocal delay
        yield []
        stop.wait(delay)
        delay = min(delay * 2, max_poll_interval)

    try:
        while not stop.is_set():
            if handle is None:
                try:
                    handle = open(path, "rb", buffering=0)
                except FileNotFoundError:
                    if first:
                        yield SourceNotice(action="waiting", path=path)
                        first = False
                    yield from idle()
                    continue
                except OSError as exc:
                    raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
                info = os.fstat(handle.fileno())
                identity = (info.st_dev, info.st_ino)
                if first and from_end:
                    handle.seek(0, os.SEEK_END)
                if not first:
                    yield SourceNotice(action="opened", path=path)
                first = False
            data = handle.read(chunk_size)
            if data:
                delay = poll_interval
                lines, pending = _split(pending, data)
                if lines:
                    yield lines
                continue
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is None or (current.st_dev, current.st_ino) != identity:
                # Rotated: drain what the writer added to the old file before letting go of it.
                while rest := handle.read(chunk_size):
                    lines, pending = _split(pending, rest)
                    if lines:
                        yield lines
                if pending:
                    yield [pending]
                    pending = b""
                handle.close()
                handle = None
                yield SourceNotice(action="rotated", path=path)
                continue
            if current.st_size < handle.tell():
                handle.seek(0)
                pending = b""
                yield SourceNotice(action="truncated", path=path)
                continue
            yield from idle()
    finally:
        if handle is not None:
            handle.close()


def open_input(
    path: Optional[str],
    *,
    follow: bool = False,
    from_end: bool = False,
    stdin: Optional[IO[bytes]] = None,
    stop: Optional[threading.Event] = None,
    poll_interval: float = 0.05,
    max_poll_interval: float = 0.25,
) -> Iterator[Chunk]:
    """The source for ``--input``: ``None``/``-`` is stdin, else a file (followed with ``follow``)."""
    if path in (None, "-"):
        if follow:
            raise InvalidInputError("--follow needs a file (--input FILE); stdin is already followed as it arrives")
        if stdin is None:
            raise InvalidInputError("no input: give --input FILE or pipe texts to stdin")
        return read_live_stream(stdin)
    assert path is not None
    if follow:
        if os.path.isdir(path):
            raise DataError(f"{path} is a directory")
        return follow_file(path, from_end=from_end, stop=stop, poll_interval=poll_interval, max_poll_interval=max_poll_interval)
    handle = open_data_file(Path(path), str(path))
    return _closing(handle, read_stream(handle))


def _closing(handle: IO[bytes], chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    with handle:
        yield from chunks


# --- webhook -----------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: webhook URLs often carry a token in the path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…" if parts.path.strip("/") or parts.query else f"{parts.scheme}://{host}"


class WebhookNotifier:
    """POST events as JSON to a URL from a background thread.

    Each POST has a ``timeout``; connection errors, timeouts, 5xx and 429 answers are
    retried up to ``retries`` times with exponential backoff (``backoff``, doubled each
    time, at most ``max_backoff``); other 4xx answers are not retried. Outcomes that
    failed come back as :class:`WebhookFailed` events from :meth:`drain`. At most
    ``max_pending`` events wait; beyond that new ones are dropped (and reported).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_pending: int = 100,
        headers: Optional[dict[str, str]] = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"--webhook must be an http(s) URL, got {redact_url(url)!r}")
        self.url = url
        self.safe_url = redact_url(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"Content-Type": "application/json", "User-Agent": f"sentikit/{__version__}", **(headers or {})}
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[Optional[Event]] = queue.Queue(maxsize=max_pending)
        self._outcomes: queue.Queue[WebhookFailed] = queue.Queue()
        self._closing = threading.Event()
        self._in_flight: Optional[Event] = None
        self._thread = threading.Thread(target=self._work, name="sentikit-webhook", daemon=True)
        self._thread.start()

    def submit(self, event: Event) -> None:
        """Queue an event for delivery; never blocks."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._fail(event, 0, "too many undelivered events waiting; dropped")

    def drain(self) -> list[WebhookFailed]:
        """Failures reported since the last call."""
        failures = []
        while True:
            try:
                failures.append(self._outcomes.get_nowait())
            except queue.Empty:
                return failures

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds; give up on the rest."""
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=max(0.0, timeout))
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._thread.is_alive():
            return
        self._closing.set()  # cut retries short; the daemon thread dies with the process
        in_flight = self._in_flight
        if in_flight is not None:
            self._fail(in_flight, 0, f"not delivered before exit (gave up after {timeout:g}s)")
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover is not None:
                self._fail(leftover, 0, f"not delivered before exit (gave up after {timeout:g}s)")

    def _fail(self, event: Event, attempts: int, error: str) -> None:
        self.failed += 1
        self._outcomes.put(
            WebhookFailed(url=self.safe_url, about=event.kind, position=int(getattr(event, "position", 0)), attempts=attempts, error=error)
        )

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            self._in_flight = event
            self._deliver(event)
            self._in_flight = None

    def _deliver(self, event: Event) -> None:
        if self._closing.is_set():
            return
        body = json.dumps(event.to_dict(), ensure_ascii=False).encode("utf-8")
        error = ""
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                if self._closing.wait(min(self.backoff * 2 ** (attempt - 1), self.max_backoff)):
                    break
            attempts += 1
            request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) checked)
                    response.read()
                self.sent += 1
                return
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                error = f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason
        if not self._closing.is_set():  # else close() already reported it
            self._fail(event, attempts, error)


# --- the loop -----------------------------------------------------------------------------------


def describe_scorer(scorer: Any) -> dict[str, Any]:
    """What scored the texts, for events and webhooks: the model's name, version and checksum, or a server URL."""
    if hasattr(scorer, "reference") and hasattr(scorer, "manifest"):
        return {"name": scorer.name, "version": scorer.version, "reference": scorer.reference, "checksum": scorer.checksum}
    info: dict[str, Any] = {}
    if callable(getattr(scorer, "model_info", None)):  # a RemoteScorer: ask the server what it serves
        served = scorer.model_info()
        manifest = served.get("model", {}) if isinstance(served, dict) else {}
        info = {"name": manifest.get("name"), "version": manifest.get("version"), "reference": served.get("reference"),
                "checksum": manifest.get("files", {}).get("pipeline.joblib")}
        info = {k: v for k, v in info.items() if v is not None}
    for attribute in ("name", "version", "reference", "url"):
        value = getattr(scorer, attribute, None)
        if isinstance(value, (str, int)) and attribute not in info:
            info[attribute] = redact_url(str(value)) if attribute == "url" else value
    return info


def run_monitor(
    source: Iterable[Chunk],
    scorer: Scorer,
    config: MonitorConfig,
    *,
    fmt: InputFormat = InputFormat(),
    on_event: Callable[[Event], None] = lambda event: None,
    notifier: Optional[WebhookNotifier] = None,
    model: Optional[dict[str, Any]] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    status_interval: Optional[float] = 5.0,
    clock: Callable[[], float] = time.time,
    webhook_close_timeout: float = 10.0,
) -> Summary:
    """Score texts from ``source`` as they arrive, report events through ``on_event``, and
    return the :class:`Summary` when the source ends or on Ctrl-C (``interrupted=True``).

    Every line already available is scored at once (in batches of at most ``batch_size``);
    nothing waits for more input. Alerts and recoveries also go to ``notifier``.
    A :class:`Status` is reported at most every ``status_interval`` seconds (``0`` = after
    every batch, ``None`` = never); the Summary carries the final window.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch size must be at least 1, got {batch_size}")
    core = WindowMonitor(config, model=model if model is not None else describe_scorer(scorer))
    parser = LineParser(fmt)
    bad_lines = 0
    started = time.monotonic()
    last_status = started
    interrupted = False

    def report(event: Event) -> None:
        on_event(event)
        if notifier is not None and isinstance(event, (Alert, Recovery)):
            notifier.submit(event)

    def score_batch(records: list[Record]) -> None:
        scores = scorer.score([r.text for r in records])
        if len(scores) != len(records):
            raise ServerError(f"the scorer returned {len(scores)} scores for {len(records)} texts")
        for event in core.add_many(records, scores):
            report(event)

    try:
        for chunk in source:
            if isinstance(chunk, SourceNotice):
                report(chunk)
                continue
            now = clock()
            if chunk:
                records: list[Record] = []
                for raw in chunk:
                    parsed = parser.parse(raw, now)
                    if parsed is None:
                        continue
                    if isinstance(parsed, BadLine):
                        bad_lines += 1
                        report(parsed)
                        continue
                    records.append(parsed)
                    if len(records) >= batch_size:
                        score_batch(records)
                        records = []
                if records:
                    score_batch(records)
            else:
                expired = core.expire(now)
                if expired is not None:
                    report(expired)
            if notifier is not None:
                for failure in notifier.drain():
                    report(failure)
            if status_interval is not None and time.monotonic() - last_status >= status_interval:
                last_status = time.monotonic()
                report(core.status(bad_lines=bad_lines, now=now))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if isinstance(source, Iterator) and hasattr(source, "close"):
            source.close()
    if notifier is not None:
        try:
            notifier.close(timeout=1.0 if interrupted else webhook_close_timeout)
        except KeyboardInterrupt:
            interrupted = True
        for failure in notifier.drain():
            report(failure)
    final = core.status(bad_lines=bad_lines, now=clock())
    seconds = time.monotonic() - started
    return Summary(
        texts=core.position, bad_lines=bad_lines, alerts=core.alerts, recoveries=core.recoveries,
        final_mean=core.mean, state=core.state, window=final.window, seconds=seconds,
        texts_per_second=core.position / seconds if seconds > 0 else 0.0,
        webhooks_sent=notifier.sent if notifier else 0, webhooks_failed=notifier.failed if notifier else 0,
        interrupted=interrupted, model=core.model,
    )


__all__ = [
    "Alert", "BadLine", "Event", "InputFormat", "LineParser", "MonitorConfig", "Record", "Recovery",
    "SourceNotice", "Status", "Summary", "TextSample", "WebhookFailed", "WebhookNotifier", "WindowMonitor",
    "WindowStats", "describe_scorer", "follow_file", "open_input", "parse_timestamp", "read_live_stream",
    "read_stream", "redact_url", "run_monitor",
]
