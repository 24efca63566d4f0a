"""The write coalescing under uvicorn's protocols: one write per event-loop turn, nothing lost."""

from __future__ import annotations

import asyncio
from typing import Any

from sentikit.server.protocols import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def test_writes_of_one_turn_leave_as_one_and_close_sends_what_is_held() -> None:
    async def scenario() -> tuple[RecordingTransport, list[list[bytes]]]:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        seen = []
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        transport.write(memoryview(b"0.97"))
        seen.append(list(inner.writes))  # nothing sent yet: the turn is not over
        await asyncio.sleep(0)
        seen.append(list(inner.writes))
        transport.write(b"second")
        await asyncio.sleep(0)
        transport.write(b"last words")
        transport.close()  # sends what is held, then closes
        assert transport.get_extra_info("peername") == ("127.0.0.1", 5) and transport.is_closing()
        return inner, seen

    inner, seen = asyncio.run(scenario())
    assert seen == [[], [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n0.97"]]
    assert inner.writes[1:] == [b"second", b"last words"] and inner.events == ["close"]


def test_abort_drops_what_is_held_and_a_closed_transport_gets_nothing() -> None:
    async def scenario() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)
        other = RecordingTransport()
        late = CoalescingTransport(other, asyncio.get_running_loop())
        late.write(b"too late")
        other.closing = True  # the peer went away within the turn
        await asyncio.sleep(0)
        assert other.writes == []
        return inner

    inner = asyncio.run(scenario())
    assert inner.writes == [] and inner.events == ["abort"]
