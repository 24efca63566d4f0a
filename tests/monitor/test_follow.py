"""--follow: a real file appended to, rotated and truncated while it is being read."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from sentikit.errors import DataError, InvalidInputError
from sentikit.monitor import Alert, MonitorConfig, Recovery, SourceNotice, follow_file, open_input, run_monitor


def pull(chunks: Iterator[Any], lines_wanted: int, timeout: float = 5.0) -> list[Any]:
    """Lines (decoded) and notice actions from a follow source until ``lines_wanted`` lines came."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while sum(isinstance(g, str) for g in got) < lines_wanted:
        assert time.monotonic() < deadline, f"timed out; got {got}"
        chunk = next(chunks)
        if isinstance(chunk, SourceNotice):
            got.append(("notice", chunk.action))
        else:
            got.extend(line.decode() for line in chunk)
    return got


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def test_follow_reads_appends_partial_lines_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "stream.log"
    path.write_text("one\ntwo\n", encoding="utf-8")
    chunks = follow_file(str(path), poll_interval=0.01, max_poll_interval=0.05)
    assert pull(chunks, 2) == ["one", "two"]

    append(path, "three\nhal")  # a writer in the middle of a line
    assert pull(chunks, 1) == ["three"]
    append(path, "f\n")
    assert pull(chunks, 1) == ["half"]

    # Rotation (logrotate's create mode): a last line lands in the old file as it is renamed
    # (read before or after the rename is noticed, it is never lost), then a new file starts.
    append(path, "last words in the old file\n")
    os.rename(path, tmp_path / "stream.log.1")
    path.write_text("new file line\n", encoding="utf-8")
    assert pull(chunks, 2) == ["last words in the old file", ("notice", "rotated"), ("notice", "opened"), "new file line"]

    # Truncation (copytruncate mode): the file shrinks and starts over.
    append(path, "padding so the file is longer than what follows\n")
    assert pull(chunks, 1) == ["padding so the file is longer than what follows"]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("after truncation\n")
    assert pull(chunks, 1) == [("notice", "truncated"), "after truncation"]
    chunks.close()  # type: ignore[attr-defined]


def test_follow_waits_for_a_missing_file_and_can_start_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    chunks = follow_file(str(path), poll_interval=0.01, max_poll_interval=0.02)
    assert next(chunks) == SourceNotice(action="waiting", path=str(path))
    path.write_text("hello\n", encoding="utf-8")
    assert pull(chunks, 1) == [("notice", "opened"), "hello"]
    chunks.close()  # type: ignore[attr-defined]

    existing = tmp_path / "existing.log"
    existing.write_text("old 1\nold 2\n", encoding="utf-8")
    tail = follow_file(str(existing), from_end=True, poll_interval=0.01, max_poll_interval=0.02)
    assert next(tail) == []
    append(existing, "fresh\n")
    assert pull(tail, 1) == ["fresh"]
    tail.close()  # type: ignore[attr-defined]


class RecordingStop(threading.Event):
    """A stop event that records each wait the follower makes between polls."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float("inf") if timeout is None else timeout)
        return super().wait(timeout)


def test_idle_polling_backs_off_but_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "idle.log"
    path.write_text("", encoding="utf-8")
    stop = RecordingStop()
    chunks = follow_file(str(path), poll_interval=0.01, max_poll_interval=0.04, stop=stop)
    for _ in range(8):  # back off while idle...
        assert next(chunks) == []
    append(path, "wake up\n")
    assert pull(chunks, 1) == ["wake up"]
    chunks.close()  # type: ignore[attr-defined]
    # ...doubling from poll_interval and never waiting longer than max_poll_interval
    # (the wake-up latency itself is measured in bench/timing.py).
    assert stop.waits[:3] == [0.01, 0.02, 0.04]
    assert max(stop.waits) == 0.04


def test_open_input_errors() -> None:
    with pytest.raises(DataError, match="no such file"):
        open_input("missing.txt")
    with pytest.raises(InvalidInputError, match="--follow needs a file"):
        open_input("-", follow=True)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_monitor_follows_a_live_file_through_rotation(tmp_path: Path, label_scorer, uci_texts) -> None:
    positives, negatives = uci_texts
    path = tmp_path / "mentions.log"
    path.write_text("\n".join(positives[:10]) + "\n", encoding="utf-8")
    stop = threading.Event()
    events: list[Any] = []
    result: dict[str, Any] = {}
    source = open_input(str(path), follow=True, stop=stop, poll_interval=0.01, max_poll_interval=0.05)

    def run() -> None:
        result["summary"] = run_monitor(source, label_scorer, MonitorConfig(alert_below=0.45, window=10),
                                        on_event=events.append, status_interval=None)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        append(path, "\n".join(negatives[:10]) + "\n")
        wait_for(lambda: any(isinstance(e, Alert) for e in events))
        alert = next(e for e in events if isinstance(e, Alert))
        assert alert.position == 16  # (9 - 0.8k)/10 < 0.45 at the 6th negative

        os.rename(path, tmp_path / "mentions.log.1")
        path.write_text("\n".join(positives[10:20]) + "\n", encoding="utf-8")
        wait_for(lambda: any(isinstance(e, Recovery) for e in events))
        recovery = next(e for e in events if isinstance(e, Recovery))
        assert recovery.position == 25  # (1 + 0.8k)/10 >= 0.45 at the 5th positive

        path.write_text(negatives[20] + "\n", encoding="utf-8")  # truncated and rewritten
        wait_for(lambda: label_scorer.calls and sum(label_scorer.calls) == 31)
    finally:
        stop.set()
        thread.join(10)
    summary = result["summary"]
    assert (summary.texts, summary.alerts, summary.recoveries, summary.interrupted) == (31, 1, 1, False)
    notices = [e.action for e in events if isinstance(e, SourceNotice)]
    assert notices == ["rotated", "opened", "truncated"]
