"""Real HTTP receivers on 127.0.0.1 for alert tests: record every POST (headers, JSON body, arrival time) and
answer from a script (e.g. two 503s, or a 429 with Retry-After) before answering 200."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Optional

__all__ = ["Hit", "Receiver", "receiving"]


@dataclass
class Hit:
    at: float  # time.monotonic() on arrival
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class Receiver:
    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answers to give first
    ok_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: Optional[ThreadingHTTPServer] = None

    def fail_first(self, count: int, status: int = 503, headers: Optional[dict[str, str]] = None) -> None:
        self.script = [(status, headers or {}) for _ in range(count)]

    def accepted(self) -> list[Hit]:
        return [h for h in self.hits if 200 <= h.status < 300]

    def wait_accepted(self, count: int, timeout: float = 20.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.accepted()) < count:
            time.sleep(0.02)
        return self.accepted()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])


def receiving(path: str = "/hook/T0123/secret-token", ok_status: int = 200, port: int = 0) -> Iterator[Receiver]:
    """Run a receiver for the duration of a ``with``-less generator fixture (``yield from receiving()``)."""
    state = Receiver(ok_status=ok_status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                status, headers = state.script.pop(0) if state.script else (state.ok_status, {})
                state.hits.append(Hit(time.monotonic(), dict(self.headers), json.loads(body), status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    state.server = server
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
