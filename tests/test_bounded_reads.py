"""Every reader is streamed with a bounded line size: an endless line (/dev/zero, a sparse file) is a
one-line error naming the input and the line, not a process that fills memory (issue 18, point 9)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from sentikit.data import MAX_LINE_BYTES, LineSplitter, bounded_text_lines, iter_records, load_dataset
from sentikit.errors import DataError
from sentikit.monitor import follow_file, open_input, read_live_stream, read_stream
from sentikit.score import read_lines

# A reader that has not given up after this much input never would: the test fails instead of
# filling memory or running on (bounds the test in time and space without timing it).
_GIVE_UP = 4 * MAX_LINE_BYTES


class EndlessZeros(io.RawIOBase):
    """``prefix``, then NUL bytes with no line break, like /dev/zero; fails the test if read too far."""

    def __init__(self, prefix: bytes = b"") -> None:
        self._prefix = prefix
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        self.served += len(buffer)
        if self.served > _GIVE_UP:
            raise AssertionError(f"read {self.served:,} bytes of one endless line without stopping")
        buffer[:] = bytes(len(buffer))
        return len(buffer)


def _endless_text(prefix: bytes = b"") -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedReader(EndlessZeros(prefix)), encoding="utf-8")


@pytest.fixture(scope="module")
def sparse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 GiB of zeros that takes no disk space: two short lines, then no line break ever."""
    path = tmp_path_factory.mktemp("sparse") / "posts.csv"
    with path.open("wb") as handle:
        handle.write(b"text,label\ngood film,1\n")
        handle.truncate(1 << 30)
    return path


def test_training_and_scoring_files_stop_at_the_long_line(sparse_file: Path) -> None:
    with pytest.raises(DataError, match=rf"^{sparse_file}, line 3: longer than 16 MiB without a line break"):
        load_dataset([sparse_file])
    _fmt, _column, records = iter_records(sparse_file)
    with pytest.raises(DataError, match=r", line 3: longer than 16 MiB"):
        list(records)


def test_stdin_streams_stop_at_the_long_line() -> None:
    with pytest.raises(DataError, match=r"^stdin, line 2: longer than 16 MiB"):
        load_dataset(["-"], stdin=_endless_text(b"text\tlabel\n"))
    with pytest.raises(DataError, match=r"^stdin, line 1: longer than 16 MiB"):
        iter_records("-", stdin=_endless_text())[2].__next__()
    with pytest.raises(DataError, match=r"^stdin, line 3: longer than 16 MiB"):
        read_lines(_endless_text(b"one\ntwo\n"))
    with pytest.raises(DataError, match=r"^stdin, line 1: longer than 16 MiB"):  # UTF-16 input has its own reader
        load_dataset(["-"], stdin=_endless_text(b"\xff\xfe" + "text\tlabel".encode("utf-16-le")))


def test_monitor_sources_stop_at_the_long_line(sparse_file: Path) -> None:
    with pytest.raises(DataError, match=r"^stdin, line 3: longer than 16 MiB"):
        list(read_stream(io.BufferedReader(EndlessZeros(b"a\nb\n"))))
    with pytest.raises(DataError, match=r"^stdin, line 2: longer than 16 MiB"):
        list(read_live_stream(io.BufferedReader(EndlessZeros(b"a\n")), tick=5))
    with pytest.raises(DataError, match=rf"^{sparse_file}, line 3: longer than 16 MiB"):
        list(open_input(str(sparse_file)))
    with pytest.raises(DataError, match=rf"^{sparse_file}, line 3: longer than 16 MiB"):
        for _chunk in follow_file(str(sparse_file)):
            pass


def test_line_splitter_limit_is_exact_and_counts_lines() -> None:
    splitter = LineSplitter("feed", limit=10)
    assert splitter.feed(b"0123456789\n01234") == [b"0123456789"]  # exactly the limit is fine
    assert splitter.feed(b"56789") == []  # ten bytes held
    assert splitter.feed(b"\nx") == [b"0123456789"]
    with pytest.raises(DataError, match=r"^feed, line 3: longer than 10 bytes"):
        splitter.feed(b"123456789" + b"0")
    text = list(bounded_text_lines(io.StringIO("abc\n" + "x" * 8 + "\n"), "text", limit=8))
    assert text == ["abc\n", "x" * 8 + "\n"]
    with pytest.raises(DataError, match=r"^text, line 2: longer than 8 bytes"):
        list(bounded_text_lines(io.StringIO("abc\n" + "x" * 9), "text", limit=8))


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["score", "--input", "{sparse}", "-o", "scored.csv"],
        ["train", "{sparse}"],
        ["evaluate", "{sparse}"],
        ["monitor", "--input", "{sparse}", "--window", "5", "--alert-below", "0.4"],
    ],
)
def test_cli_gives_one_line_and_exit_2(cli, trained_model_dir: Path, sparse_file: Path, command: list[str]) -> None:
    args = [part.format(sparse=sparse_file) for part in command]
    if args[0] != "train":
        args += ["-m", str(trained_model_dir)]
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {sparse_file}, line 3: longer than 16 MiB without a line break; "
        "not a text file of one record per line (a binary file or an endless stream?)"
    ]
    assert not Path("scored.csv").exists()


def test_json_nested_beyond_the_parser_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    from sentikit.monitor import BadLine, LineParser

    deep = '{"text": "fine", "label": 1, "x": ' + "[" * 100_000 + "}"
    path = tmp_path / "deep.jsonl"
    path.write_text(deep + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{path}, line 1: JSON nested too deeply to read$"):
        load_dataset([path])
    with pytest.raises(DataError, match=r"line 1: JSON nested too deeply"):
        iter_records(path)
    parsed = LineParser().parse(deep.encode(), 0.0)
    assert isinstance(parsed, BadLine) and parsed.reason == "JSON nested too deeply to read"
