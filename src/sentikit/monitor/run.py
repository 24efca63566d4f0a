"""The monitoring loop: read what is available, score it in micro-batches, feed the window, report
events (and send alerts to the webhook), and return a :class:`~sentikit.monitor.events.Summary`."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol

from ..errors import InvalidInputError, ServerError
from .events import Alert, BadLine, Event, Record, Recovery, SourceNotice, Summary
from .parse import InputFormat, LineParser
from .sources import Chunk
from .notify import Notifier, redact_url
from .window import MonitorConfig, WindowMonitor

__all__ = ["DEFAULT_BATCH_SIZE", "Scorer", "describe_scorer", "run_monitor"]

DEFAULT_BATCH_SIZE = 1000  # also the server's default max batch, so --url works unchanged


class Scorer(Protocol):
    def score(self, texts: list[str]) -> list[float]: ...


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
    notifier: Optional[Notifier] = None,
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
