"""The server's edges against real processes and raw sockets (issue 18, points 4, 10 and 11):
clients that vanish mid-body, slowloris heads and trickled bodies, request lines near and over the limit.

Every socket here has a timeout, and every wait a bound: a regression fails, it does not hang.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

PARSERS = ["httptools", "h11"]


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took (bounded)."""
    started, data = time.monotonic(), b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data, time.monotonic() - started


def status_and_error(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)["error"]


def metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.parametrize("http", PARSERS)
def test_client_gone_mid_body_is_no_traceback_and_no_5xx(start_server: Any, model_dir: Path, http: str) -> None:
    server = start_server(str(model_dir), env={"SENTIKIT_SERVER_HTTP": http})
    for _ in range(3):
        with connect(server.url) as sock:
            sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n" + b'{"texts": ')
            time.sleep(0.2)  # the app is reading the body when the client goes
    time.sleep(0.5)
    scraped = metrics(server.url)
    assert 'status="500"' not in scraped and 'code="internal"' not in scraped, scraped
    assert 'sentikit_requests_total{route="/v1/score",method="POST",status="499"} 3' in scraped
    code, stderr = server.stop()
    assert "Traceback" not in stderr and "Exception in ASGI application" not in stderr, stderr


@pytest.mark.parametrize("http", PARSERS)
def test_slowloris_heads_are_cut_off_at_the_header_timeout(start_server: Any, model_dir: Path, http: str) -> None:
    server = start_server(str(model_dir), env={"SENTIKIT_SERVER_HTTP": http, "SENTIKIT_SERVER_HEADER_TIMEOUT": "1"})
    slow = [connect(server.url) for _ in range(20)]
    silent = connect(server.url)
    started = time.monotonic()
    for sock in slow:
        sock.sendall(b"GET /analyze?text=hi HTTP/1.1\r\nHost: t\r\n")
    closed: dict[int, bytes] = {}
    while len(closed) < len(slow) and time.monotonic() - started < 10:
        for i, sock in enumerate(slow):
            if i in closed:
                continue
            try:
                sock.sendall(b"X-a: b\r\n")  # one header line now and then, never the blank line
                sock.settimeout(0.05)
                data = sock.recv(65536)
                closed[i] = data
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed[i] = b""
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    assert len(closed) == 20 and elapsed < 5, f"{len(closed)} of 20 closed after {elapsed:.1f}s"
    answered = [status_and_error(data) for data in closed.values() if data]
    assert answered and all(status == 408 and error["code"] == "request_timeout" for status, error in answered)
    data, waited = read_until_closed(silent, limit=5)
    assert data == b"" and waited < 5  # a connection that never asked is closed without an answer
    with urllib.request.urlopen(server.url + "/analyze?text=still+serving", timeout=10) as response:
        assert response.status == 200
    for sock in [*slow, silent]:
        sock.close()


@pytest.mark.parametrize("http", PARSERS)
def test_a_trickled_endless_body_is_cut_off_at_the_body_timeout(start_server: Any, model_dir: Path, http: str) -> None:
    server = start_server(str(model_dir), env={"SENTIKIT_SERVER_HTTP": http, "SENTIKIT_SERVER_BODY_TIMEOUT": "1"})
    with connect(server.url) as sock:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        started, response = time.monotonic(), b""
        sock.settimeout(0.2)
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"1\r\n \r\n")  # one space per chunk, forever
                response += sock.recv(65536)
                if b"\r\n\r\n" in response:
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        elapsed = time.monotonic() - started
        response += read_until_closed(sock, limit=5)[0]  # the rest of the answer, then the close
    assert elapsed < 5, f"still reading the body after {elapsed:.1f}s"
    status, error = status_and_error(response)
    assert status == 408 and error["code"] == "request_timeout"


@pytest.mark.parametrize("http", PARSERS)
def test_the_documented_get_limit_is_the_real_one(start_server: Any, model_dir: Path, http: str) -> None:
    """Issue 18.11: GET takes what the OpenAPI document says, sent in many writes, with either parser;
    beyond it a JSON error that points to POST /v1/score."""
    server = start_server(str(model_dir), env={"SENTIKIT_SERVER_HTTP": http})
    with urllib.request.urlopen(server.url + "/openapi.json", timeout=10) as response:
        parameter = json.load(response)["paths"]["/analyze"]["get"]["parameters"][0]
    limit = parameter["schema"]["maxLength"]
    assert limit == 5_000 and "POST /v1/score" in parameter["description"]

    def get(text: str) -> bytes:
        request = f"GET /analyze?text={urllib.parse.quote(text)} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        with connect(server.url) as sock:
            try:
                for i in range(0, len(request), 1400):  # the request line arrives in many writes
                    sock.sendall(request[i : i + 1400].encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered and closed before everything was read
            return read_until_closed(sock, limit=20)[0]

    answer = get("\U0001F600" * limit)  # 4-byte characters: 12 bytes each in the URL
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    float(answer.partition(b"\r\n\r\n")[2])
    status, error = status_and_error(get("a" * (limit + 1)))
    assert status == 413 and error["code"] == "text_too_long" and "POST /v1/score" in error["message"]
    status, error = status_and_error(get("\U0001F600" * 6_000))
    assert status == 414 and error["code"] == "uri_too_long" and "POST /v1/score" in error["message"]


def test_malformed_requests_get_the_json_envelope(start_server: Any, model_dir: Path) -> None:
    server = start_server(str(model_dir))
    with connect(server.url) as sock:
        sock.sendall(b"GET /analyze HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n")
        data, _ = read_until_closed(sock, limit=10)
    status, error = status_and_error(data)
    assert status == 400 and error["code"] == "bad_request"


@pytest.mark.parametrize("http", PARSERS)
def test_pipelined_and_head_requests_on_one_connection_get_every_answer_whole(start_server: Any, model_dir: Path, http: str) -> None:
    """Responses are written once per event-loop turn (protocols.CoalescingTransport): pipelined
    requests still get one complete answer each, in order, and a HEAD answer has no body."""
    server = start_server(str(model_dir), env={"SENTIKIT_SERVER_HTTP": http})
    texts = ["lovely host", "dirty flat", "fine"]
    expected = [urllib.request.urlopen(server.url + "/analyze?text=" + urllib.parse.quote(t), timeout=10).read() for t in texts]
    with connect(server.url) as sock:
        sock.sendall(b"".join(b"GET /analyze?text=%s HTTP/1.1\r\nHost: t\r\n\r\n" % urllib.parse.quote(t).encode() for t in texts)
                     + b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data, _ = read_until_closed(sock, 10)
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 4, data
    for answer, body in zip(answers, expected):
        head, _, got = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"200 ") and got == body
    head, _, rest = answers[3].partition(b"\r\n\r\n")
    assert head.startswith(b"200 ") and rest == b""
