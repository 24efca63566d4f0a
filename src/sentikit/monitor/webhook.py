"""Delivering alerts and recoveries to a webhook from a background thread, with a timeout and bounded
retries, so a slow or failing webhook never blocks monitoring."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Optional
from urllib.parse import urlsplit

from .. import __version__
from ..errors import InvalidInputError
from .events import Event, WebhookFailed

__all__ = ["WebhookNotifier", "redact_url"]


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
