"""Where monitored lines come from: a file read to its end, stdin as it arrives (a reader thread keeps
idle ticks coming), or a file followed like ``tail -F`` (poll-based, survives truncation and rotation)."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import IO, Iterator, Optional, Union

from ..data import MAX_LINE_BYTES, LineSplitter, open_data_file
from ..errors import DataError, InvalidInputError
from .events import SourceNotice

__all__ = ["Chunk", "follow_file", "open_input", "read_live_stream", "read_stream"]

# A source yields lists of raw lines (an empty list = nothing new yet) or notices.
Chunk = Union[list[bytes], SourceNotice]


def read_stream(
    stream: IO[bytes], *, name: str = "stdin", chunk_size: int = 1 << 20, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Chunk]:
    """Lines of a binary stream that ends (a file, or stdin), read in big chunks.

    Raises:
        DataError: a line is longer than ``max_line_bytes`` (named by ``name`` and its line number).
    """
    reader = getattr(stream, "read1", stream.read)
    splitter = LineSplitter(name, max_line_bytes)
    while data := reader(chunk_size):
        lines = splitter.feed(data)
        if lines:
            yield lines
    if rest := splitter.flush():
        yield rest


def read_live_stream(
    stream: IO[bytes], *, name: str = "stdin", tick: float = 0.25, chunk_size: int = 1 << 16,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[Chunk]:
    """Lines of a stream that may pause (a pipe): read in a thread so idle ticks still come.

    At most 64 chunks wait between the reader thread and the consumer, and a partial line is held up
    to ``max_line_bytes`` (a longer one is a DataError), so memory stays bounded whatever arrives.
    """
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
    splitter = LineSplitter(name, max_line_bytes)
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
        yield splitter.feed(data)
    if rest := splitter.flush():
        yield rest


def follow_file(
    path: str,
    *,
    from_end: bool = False,
    poll_interval: float = 0.05,
    max_poll_interval: float = 0.25,
    stop: Optional[threading.Event] = None,
    chunk_size: int = 1 << 20,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[Chunk]:
    """Follow a file like ``tail -F``: poll for appended lines, reopen it when it is rotated
    (renamed or deleted and recreated) and start over when it is truncated.

    The wait between polls starts at ``poll_interval`` and doubles up to
    ``max_poll_interval`` while the file is idle, so a new line waits at most that long.
    A partial last line is held until its newline arrives (or the file is rotated), up to
    ``max_line_bytes`` (a longer line is a DataError naming the file and the line).
    Runs until ``stop`` is set (or the consumer stops iterating).
    """
    stop = stop or threading.Event()
    handle: Optional[IO[bytes]] = None
    identity: Optional[tuple[int, int]] = None
    splitter = LineSplitter(path, max_line_bytes)
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
                lines = splitter.feed(data)
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
                    lines = splitter.feed(rest)
                    if lines:
                        yield lines
                if held := splitter.flush():
                    yield held
                handle.close()
                handle = None
                yield SourceNotice(action="rotated", path=path)
                continue
            if current.st_size < handle.tell():
                handle.seek(0)
                splitter.discard()
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
        return read_live_stream(stdin, name="stdin")
    assert path is not None
    if follow:
        if os.path.isdir(path):
            raise DataError(f"{path} is a directory")
        return follow_file(path, from_end=from_end, stop=stop, poll_interval=poll_interval, max_poll_interval=max_poll_interval)
    handle = open_data_file(Path(path), str(path))
    return _closing(handle, read_stream(handle, name=str(path)))


def _closing(handle: IO[bytes], chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    with handle:
        yield from chunks
