"""Input bytes: files or stdin, gzip (by magic bytes), UTF-8/UTF-16 BOMs, the sniffed head, hashing.

A :class:`Source` is one open input. It hashes every raw byte it reads (the model lineage records
the SHA-256 of each training file), keeps the first bytes for format detection without consuming
them, and yields decoded lines whose errors name the file and the line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zlib
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Iterator, Optional, TextIO, Union

from ..errors import DataError

__all__ = [
    "CORPUS_FILE",
    "MAX_LINE_BYTES",
    "PACKAGE_PREFIX",
    "SNIFF_BYTES",
    "LineSplitter",
    "Source",
    "TextAsBytes",
    "bounded_text_lines",
    "decode_head",
    "default_training_files",
    "line_too_long",
    "open_data_file",
    "portable_data_path",
    "resolve_data_path",
]

CORPUS_FILE = "corpus.tsv.gz"
# A data file shipped inside the package, as manifests record it: sentikit:resources/corpus.tsv.gz
PACKAGE_PREFIX = "sentikit:"
SNIFF_BYTES = 64 * 1024
# The longest line (and CSV field) any reader accepts: long reviews exceed csv's default 128 KiB,
# and a bound at all is what keeps /dev/zero or a sparse file from filling memory.
MAX_LINE_BYTES = 16 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def default_training_files() -> list[Path]:
    """The bundled training corpus: ``data/corpus.tsv.gz`` in the current directory if there is one,
    else the copy shipped inside the package (``sentikit/resources/corpus.tsv.gz``).

    Raises:
        DataError: no corpus was found; the message says to pass training files explicitly.
    """
    local = Path.cwd() / "data" / CORPUS_FILE
    if local.is_file():
        return [local.resolve()]
    packaged = resources.files("sentikit") / "resources" / CORPUS_FILE
    if packaged.is_file():
        # A wheel or editable install unpacks to real files; a zipped install would need as_file.
        return [Path(str(packaged)).resolve()]
    raise DataError(
        f"no bundled training corpus (data/{CORPUS_FILE} not found in the current directory, nor "
        f"resources/{CORPUS_FILE} in the sentikit package): pass training files explicitly, e.g. sentikit train reviews.csv"
    )


def _package_dir() -> Path:
    return Path(str(resources.files("sentikit"))).resolve()


def portable_data_path(path: str) -> str:
    """A data file as a manifest records it, so the manifest travels: ``sentikit:RELATIVE`` for a
    file inside the installed package (the bundled corpus of a wheel install), a path relative to
    the current directory for a file under it, else the path as given."""
    if path == "-" or path.startswith(PACKAGE_PREFIX):
        return path
    resolved = Path(path).resolve()
    for base, prefix in ((_package_dir(), PACKAGE_PREFIX), (Path.cwd(), "")):
        try:
            relative = resolved.relative_to(base)
        except ValueError:
            continue
        return prefix + relative.as_posix() if prefix else str(relative)
    return path


def resolve_data_path(path: Union[str, Path]) -> Path:
    """The file a data path names: ``sentikit:RELATIVE`` (see :func:`portable_data_path`) inside the
    installed package, anything else as a path.

    Raises:
        DataError: a ``sentikit:`` reference that leaves the package or names nothing.
    """
    text = str(path)
    if not text.startswith(PACKAGE_PREFIX):
        return Path(path)
    relative = PurePosixPath(text[len(PACKAGE_PREFIX):])
    if not relative.parts or relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"{text}: not a file of the sentikit package (e.g. {PACKAGE_PREFIX}resources/{CORPUS_FILE})")
    return _package_dir().joinpath(*relative.parts)


class _HashingReader(io.RawIOBase):
    """Passes bytes through from ``raw`` and hashes them on the way."""

    def __init__(self, raw: Union[BinaryIO, IO[bytes], io.RawIOBase]) -> None:
        self._raw = raw
        self._read = getattr(raw, "read1", raw.read)  # read1: do not block a pipe for a full buffer
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._read(len(buffer))
        if not data:
            return 0
        self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)


class TextAsBytes(io.RawIOBase):
    """UTF-8 bytes of a text stream without ``.buffer`` (e.g. ``io.StringIO`` as stdin)."""

    def __init__(self, text: TextIO) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._text.read(8192)
            if not chunk:
                return 0
            # surrogateescape gives back the original bytes of a stdin decoded that way
            self._pending = chunk.encode("utf-8", "surrogateescape")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _Replay(io.RawIOBase):
    """Reads ``prefix``, then the rest of ``stream``: sniffing must not consume the data."""

    def __init__(self, prefix: bytes, stream: Any) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Source:
    """An open input: name as given, its first bytes (``head``), decoded lines, and the hash of what was read."""

    def __init__(self, path: Union[str, Path], stdin: Optional[TextIO]) -> None:
        self.path = str(path)
        self.name = "stdin" if self.path == "-" else self.path  # for messages
        self._file: Optional[BinaryIO] = None
        if self.path == "-":
            text_in = stdin if stdin is not None else sys.stdin
            buffer = getattr(text_in, "buffer", None)
            raw: Any = buffer if buffer is not None else TextAsBytes(text_in)
        else:
            raw = self._file = open_data_file(resolve_data_path(path), self.name)
        try:
            self._hashing = _HashingReader(raw)
            stream: Any = io.BufferedReader(self._hashing, SNIFF_BYTES)
            self.gzipped = stream.peek(2)[:2] == _GZIP_MAGIC
            if self.gzipped:
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            head = self._guard(lambda: _read_head(stream, SNIFF_BYTES))
            if not decode_head(head).lstrip("\ufeff").strip():
                raise DataError(f"{self.name}: empty file")
            self.head = head
            self.utf16 = head.startswith(_UTF16_BOMS)
            self._stream = io.BufferedReader(_Replay(head, stream), SNIFF_BYTES)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def sha256(self) -> str:
        """Hash of every raw byte of the input: reads what the parser left unread (for files)."""
        if self._file is not None:
            while self._hashing.read(SNIFF_BYTES):
                pass
        return self._hashing.sha256.hexdigest()

    def lines(self) -> Iterator[str]:
        """Decoded lines with their endings; physical line numbers are 1-based positions."""
        number = 0
        try:
            if self.utf16:
                text = io.TextIOWrapper(self._stream, "utf-16", newline="")
                limit = MAX_LINE_BYTES // 2  # characters: two bytes each
                try:
                    while line := text.readline(limit + 1):
                        number += 1
                        if len(line) > limit and not line.endswith("\n"):
                            raise DataError(line_too_long(self.name, number))
                        yield line
                except UnicodeError:
                    raise DataError(f"{self.name}, line {number + 1}: not valid UTF-16 text") from None
                return
            while raw := self._stream.readline(MAX_LINE_BYTES + 1):
                number += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise DataError(line_too_long(self.name, number))
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(_decode_message(self.name, number, raw, exc)) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield line
        except (OSError, EOFError, zlib.error) as exc:
            raise self._read_error(exc) from None

    def _guard(self, read: Any) -> bytes:
        try:
            return bytes(read())
        except (OSError, EOFError, zlib.error) as exc:
            raise self._read_error(exc) from None

    def _read_error(self, exc: BaseException) -> DataError:
        if self.gzipped:
            return DataError(f"{self.name}: corrupt or truncated gzip data ({exc})")
        return DataError(f"{self.name}: cannot read the file ({exc})")


def line_too_long(name: str, number: int, limit: int = MAX_LINE_BYTES) -> str:
    """The one message for a line over the limit (a binary file, or a stream that never breaks its lines)."""
    return (
        f"{name}, line {number}: longer than {_size(limit)} without a line break; "
        "not a text file of one record per line (a binary file or an endless stream?)"
    )


def bounded_text_lines(stream: TextIO, name: str, limit: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of a text stream (with their endings), each at most ``limit`` characters, read one at a time.

    Raises:
        DataError: a line is longer than ``limit``; the message names the stream and the line.
    """
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith("\n"):  # limit characters plus the line break is fine
            raise DataError(line_too_long(name, number, limit))
        yield line


class LineSplitter:
    """Chunks of bytes to complete lines (without ``\\n``), holding at most ``limit`` bytes of a partial line
    (kept as parts, so a long line arriving in small chunks is not copied over and over).

    ``lines`` counts the lines returned so far, so an over-long line is reported with its number.
    """

    def __init__(self, name: str, limit: int = MAX_LINE_BYTES) -> None:
        self.name = name
        self.limit = limit
        self.lines = 0
        self._parts: list[bytes] = []  # the partial line, joined only once its newline arrives
        self._held = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The lines completed by ``data``.

        Raises:
            DataError: a line (complete or still partial) is longer than the limit.
        """
        if b"\n" not in data:
            self._hold(data)
            return []
        lines = data.split(b"\n")
        last = lines.pop()
        if self._parts:
            lines[0] = b"".join(self._parts) + lines[0]
            self._parts, self._held = [], 0
        for offset, line in enumerate(lines, 1):
            if len(line) > self.limit:
                raise DataError(line_too_long(self.name, self.lines + offset, self.limit))
        self.lines += len(lines)
        self._hold(last)
        return lines

    def flush(self) -> list[bytes]:
        """The partial last line, if any (at the end of the input or before a reopen)."""
        rest = b"".join(self._parts)
        self.discard()
        if not rest:
            return []
        self.lines += 1
        return [rest]

    def discard(self) -> None:
        """Forget the partial line (the file was truncated under it)."""
        self._parts, self._held = [], 0

    def _hold(self, data: bytes) -> None:
        if data:
            self._parts.append(data)
            self._held += len(data)
            if self._held > self.limit:
                raise DataError(line_too_long(self.name, self.lines + 1, self.limit))


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit:,} bytes"


def open_data_file(path: Path, name: str) -> BinaryIO:
    """Open a data file for binary reading; missing files, directories and permissions are DataErrors."""
    if path.is_dir():
        raise DataError(f"{name}: a directory, not a file: pass the data files inside it")
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except PermissionError:
        raise DataError(f"{name}: permission denied") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot open the file ({exc.strerror or exc})") from None


def _read_head(stream: Any, size: int) -> bytes:
    head = bytearray()
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return bytes(head)


def decode_head(data: bytes) -> str:
    if data.startswith(_UTF16_BOMS):
        return data[: len(data) - len(data) % 2].decode("utf-16", "replace")
    return data.decode("utf-8", "replace")


def _decode_message(name: str, number: int, raw: bytes, exc: UnicodeDecodeError) -> str:
    where = f"{name}, line {number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    if b"\x00" in raw:
        return f"{where}; it looks like UTF-16 without a byte-order mark: convert it with iconv -f UTF-16LE -t UTF-8"
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return f"{where}; convert it to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)"
    return f"{where}; it looks like Windows-1252/Latin-1: convert it with iconv -f WINDOWS-1252 -t UTF-8"


