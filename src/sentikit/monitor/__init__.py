"""Watching sentiment: score texts as they arrive and alert when the rolling mean turns negative.

The pieces, from the inside out:

* :mod:`.events` - the records and events, each with its JSON form.
* :class:`WindowMonitor` (:mod:`.window`) - the pure core: a rolling window (last N texts, or last S seconds
  of event time) plus the alert state machine. No I/O, no clock: feed it records and
  scores, get :class:`Alert` / :class:`Recovery` events back.
* :class:`LineParser` (:mod:`.parse`) - turns raw input lines (plain text or JSON lines) into records or
  :class:`BadLine` events.
* :func:`open_input` (:mod:`.sources`) - the sources: a file, stdin, or a file followed like ``tail -F``
  (poll-based, survives truncation and rotation).
* :class:`WebhookNotifier` (:mod:`.webhook`) - POSTs alerts and recoveries from a background thread, with
  a timeout and bounded retries, so a slow or failing webhook never blocks monitoring.
* :func:`run_monitor` (:mod:`.run`) - the loop: read what is available, score it in micro-batches,
  feed the core, report events, and return a :class:`Summary`.

The desk (``sentikit serve --monitor``) runs the same window over a store; import its modules directly
(they are not re-exported here, so ``sentikit monitor`` does not load them):

* :mod:`.store` - :class:`~.store.Store`: posts, per-minute and per-hour rollups, events and the alert
  state in SQLite, migrated at open; :mod:`.sql` holds every statement and the dialect seam.
* :mod:`.desk` - :class:`~.desk.Desk`: ingest decided in one transaction against the committed state
  (so restarts and worker processes agree), and the dashboard's reads.
* :mod:`.drivers` - the terms over-represented in a window's negative posts.

A *scorer* is anything with ``score(list[str]) -> list[float]``: a local
:class:`~sentikit.model.SentimentModel` or a :class:`~sentikit.remote.RemoteScorer`.
"""

from __future__ import annotations

from .events import (
    Alert, BadLine, Event, Record, Recovery, SourceNotice, Status, Summary, TextSample, WebhookFailed, WindowStats, iso,
)
from .parse import InputFormat, LineParser, parse_timestamp
from .run import DEFAULT_BATCH_SIZE, Scorer, describe_scorer, run_monitor
from .sources import Chunk, follow_file, open_input, read_live_stream, read_stream
from .webhook import WebhookNotifier, redact_url
from .window import DEFAULT_SAMPLES, DEFAULT_TIME_MIN_COUNT, MonitorConfig, WindowMonitor

__all__ = [
    "DEFAULT_BATCH_SIZE", "DEFAULT_SAMPLES", "DEFAULT_TIME_MIN_COUNT",
    "Alert", "BadLine", "Chunk", "Event", "InputFormat", "LineParser", "MonitorConfig", "Record", "Recovery", "Scorer",
    "SourceNotice", "Status", "Summary", "TextSample", "WebhookFailed", "WebhookNotifier", "WindowMonitor",
    "WindowStats", "describe_scorer", "follow_file", "iso", "open_input", "parse_timestamp", "read_live_stream",
    "read_stream", "redact_url", "run_monitor",
]
