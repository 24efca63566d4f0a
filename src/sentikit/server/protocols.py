"""uvicorn's HTTP protocols (httptools and h11) with the edges a public server needs.

* A deadline for the request head: a connection that has not sent a complete request line
  and headers within ``header_timeout`` seconds of connecting (or of its last response) is
  answered 408 and closed. uvicorn only times out idle keep-alive connections, so a
  slowloris client (a byte now and then) held a connection forever.
* One limit on the size of the request head (request line and headers), the same for both
  parsers: 64 KiB, what httptools can parse. The documented GET text limit fits in it
  (5,000 characters, 12 bytes each percent-encoded at worst); beyond it a 414 JSON error that
  points to POST /v1/score, instead of a parser-dependent plain-text 400.
* Malformed requests get the JSON error envelope too.
* A lingering close (as nginx does it): when the server answers before it has read the whole
  request body (a 413 for a body over the limit, a 408), it sends the answer and a FIN, then reads
  and discards what the client is still sending, up to ``LINGER_BYTES`` and ``LINGER_SECONDS``
  (``LINGER_IDLE`` without data), and only then closes. Closing with unread data makes the
  kernel send a reset, and a client that writes its whole body before reading (Python's
  ``http.client``, ``requests``) got ``Connection reset by peer`` instead of the 413.
* What a connection writes in one event-loop turn goes out in one ``write`` (uvicorn writes a
  response's head and body separately): one packet per small response instead of two, so a
  client reads each answer once (wrk spent a third less CPU per request, and 2 workers answered
  15-25% more requests with wrk on the same 2 CPUs; bench/README.md).

These answers come before any ASGI request exists, so /metrics does not count them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, cast

from ..errors import ConfigError

PHRASES = {400: b"Bad Request", 408: b"Request Timeout", 414: b"URI Too Long"}


# httptools cannot parse a URL over 65,535 bytes (16-bit offsets); one limit for both parsers:
# the request line and headers together, 64 KiB (GET_TEXT_CHARS characters of any kind fit).
HEAD_LIMIT = 65_535
# The lingering close's bounds: what a client may still send after the answer, and for how long.
LINGER_BYTES = 64 * 1024 * 1024
LINGER_SECONDS = 30.0
LINGER_IDLE = 5.0


class CoalescingTransport:
    """A transport whose writes of one event-loop turn are joined and sent at the end of the turn.

    Everything else (``is_closing``, ``get_extra_info``, reading flow control, ...) is the
    wrapped transport's; ``close`` and ``write_eof`` send what is held first, ``abort`` drops it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 before_close: Callable[[], bool] | None = None) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._before_close = before_close  # True: the protocol closes later itself (a lingering close)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def flush(self) -> None:
        if self._held:
            data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
            self._held = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        self.flush()
        if self._before_close is not None and self._before_close():
            return
        self._transport.close()

    def close_now(self) -> None:
        """Close, whatever the protocol would rather do."""
        self.flush()
        self._transport.close()

    def half_close(self) -> None:
        """Send what is held and a FIN; keep reading."""
        self.flush()
        if self._transport.can_write_eof() and not self._transport.is_closing():
            self._transport.write_eof()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Edges:
    """Mixin over a uvicorn protocol: the head deadline, the head size limit, JSON errors."""

    header_timeout: float = 15.0
    head_limit: int = HEAD_LIMIT
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._coalescing = CoalescingTransport(transport, self.loop, before_close=self._linger)
        self.transport = cast(asyncio.Transport, self._coalescing)
        self._lingering = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self._head_bytes, self._tail = 0, b""
        self._head_timer: asyncio.TimerHandle | None = None
        self._rejection: tuple[int, str, str] | None = None
        self._arm_head_deadline()

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        # One timer per connection, moved on lazily: a keep-alive connection answers thousands of
        # requests, and cancelling and scheduling a timer for each one was measurable.
        self._head_bytes, self._tail = 0, b""
        self._head_since = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_deadline_passed)

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._lingering:
            return
        left = self._head_since + self.header_timeout - self.loop.time()
        if left > 0:  # a response completed since the timer was set: the head started later
            self._head_timer = self.loop.call_later(left, self._head_deadline_passed)
            return
        if self._in_request():
            return  # a request is being answered; its completion re-arms the deadline
        if self._head_bytes:
            self._reject(408, "request_timeout", f"the request line and headers did not arrive within "
                         f"{self.header_timeout:g} s")
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._linger_bytes += len(data)
            self._linger_last = self.loop.time()
            if self._linger_bytes > LINGER_BYTES:
                self._stop_lingering()
            return
        if not self._in_request():
            # Count the head only: a body that arrives in the same read is not part of it.
            end = (self._tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = data[-3:]
            if self._head_bytes > self.head_limit:
                self._reject(414, "uri_too_long", f"the request line and headers exceed {self.head_limit:,} bytes; "
                             "send long texts in the body of POST /v1/score")
                return
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._lingering or self._linger():  # answered before the whole body came: no next request here
            return
        if not self.transport.is_closing():
            self._arm_head_deadline()

    # -- the lingering close ------------------------------------------------------------------
    def _linger(self) -> bool:
        """Start a lingering close if the answer went out before the request body was read; True if lingering."""
        if self._lingering:
            return True
        cycle = self.cycle
        if cycle is None or not cycle.response_complete or not cycle.more_body or self.transport.is_closing():
            return False
        self._lingering = True
        self._linger_bytes, self._linger_last = 0, self.loop.time()
        self._linger_until = self._linger_last + LINGER_SECONDS
        self._coalescing.half_close()
        flow = getattr(self, "flow", None)
        if flow is not None:
            flow.resume_reading()  # uvicorn pauses reading while a body waits to be consumed
        self._linger_timer = self.loop.call_later(LINGER_IDLE, self._linger_check)
        return True

    def _linger_check(self) -> None:
        self._linger_timer = None
        now = self.loop.time()
        if now >= self._linger_until or now - self._linger_last >= LINGER_IDLE:
            self._stop_lingering()
            return
        wait = min(self._linger_until, self._linger_last + LINGER_IDLE) - now
        self._linger_timer = self.loop.call_later(wait, self._linger_check)

    def _stop_lingering(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        self._coalescing.close_now()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        """What uvicorn sends for a request its parser refused: the JSON envelope instead of plain text."""
        self._reject(400, "bad_request", "the request is not valid HTTP/1.1")

    def _reject(self, status: int, code: str, message: str) -> None:
        if self.transport.is_closing():
            return
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, PHRASES[status], len(body), body)
        )
        self.transport.close()


def protocol_class(http: str, *, header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol for the ``http`` setting (``auto``: httptools when installed, else h11), with the edges."""
    base: type[asyncio.Protocol]
    if http in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
        except ImportError:
            if http == "httptools":
                raise ConfigError("server_http is httptools, but httptools is not installed (pip install httptools)")
            from uvicorn.protocols.http.h11_impl import H11Protocol as base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base
    settings = {"header_timeout": header_timeout}
    return type(f"Sentikit{base.__name__}", (_Edges, base), settings)
