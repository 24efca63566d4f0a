"""Loading labelled text: CSV, TSV, JSON Lines and headerless ``text<TAB>label`` files.

Every file is read as a stream of UTF-8 (a byte-order mark is allowed; UTF-16 with a BOM, as
Excel's "Unicode Text" export writes it, is accepted too), optionally gzip-compressed (detected
by its magic bytes, not only by ``.gz``). ``-`` reads standard input.

Decisions a user can rely on:

* CSV and TSV files with a header follow RFC 4180: quoted fields may hold the delimiter, quotes
  (doubled) and line breaks. Headerless ``text<TAB>label`` files are split on the *last* tab of
  each line with no quote processing, so texts keep their quote characters exactly.
* Text and label columns are found by name (case-insensitive, first match in
  :data:`TEXT_COLUMNS` / :data:`LABEL_COLUMNS` order) unless given explicitly; other columns
  (ids, ``source``, ...) are ignored.
* Labels ``0/1`` (also ``0.0/1.0``), ``negative/positive``, ``neg/pos`` and ``false/true`` (any
  case, surrounding blanks ignored, JSON booleans too) map to 0/1. Any other number is a rating:
  with ``negative_max``/``positive_min`` a rating ``<= negative_max`` is negative, ``>=
  positive_min`` positive, and anything in between is dropped. A file whose numbers are all whole
  values from 1 to 5, with both a 1-2 and a 4-5 among them, is read as star ratings (1-2 negative,
  4-5 positive, 3 dropped) when no thresholds are given; any other scale without thresholds is an
  error (so 1/2-coded labels are never silently read as two negative ratings). Thresholds apply only to
  files that hold ratings, so a 0/1 file can be mixed with a star-rated one.
* Rows whose text is blank are skipped and counted in :attr:`SourceFile.skipped` (like dropped
  middle ratings) rather than rejected: exported spreadsheets often have empty comments. Rows
  whose fields are all empty, and blank lines, are ignored and not counted.
* Everything else that is wrong is a :class:`~sentikit.errors.DataError` with a one-line message
  naming the file, the line (of the row's first physical line) and the offending value.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator, Optional, Sequence, TextIO, Union

from .errors import DataError, InvalidInputError

__all__ = [
    "CORPUS_FILE",
    "FORMATS",
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "Dataset",
    "SourceFile",
    "default_training_files",
    "detect_format",
    "iter_records",
    "load_dataset",
]

TEXT_COLUMNS = ("text", "sentence", "review", "content", "body", "tweet", "message")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "rating", "score", "stars", "target")
FORMATS = ("csv", "tsv", "jsonl", "tsv-headerless")
CORPUS_FILE = "corpus.tsv.gz"
STAR_THRESHOLDS = (2.0, 4.0)  # 1-5 stars: 1-2 negative, 4-5 positive, 3 dropped
ACCEPTED_LABELS = "0/1, negative/positive, neg/pos, false/true, or numeric ratings with --negative-max/--positive-min"

_WORD_LABELS = {"negative": 0, "neg": 0, "false": 0, "positive": 1, "pos": 1, "true": 1}
_SNIFF_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".ods", ".parquet", ".zip")

# Long reviews exceed csv's default 128 KiB field limit; 16 MiB still catches a runaway quote.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))

Record = Union[dict[str, Any], list[str]]


@dataclass(frozen=True)
class SourceFile:
    """One input file as read: identity (SHA-256 of its raw bytes) and what was kept."""

    path: str  # as given ("-" for stdin)
    sha256: str  # of the raw bytes read (compressed bytes for .gz; the UTF-8 bytes read from text stdin)
    rows: int  # rows kept
    skipped: int  # rows dropped: blank text, or a rating between the thresholds
    format: str  # "csv" | "tsv" | "jsonl" | "tsv-headerless"
    text_column: str  # column name used ("0" for headerless files)
    label_column: str  # column name used ("1" for headerless files)


@dataclass
class Dataset:
    """Texts with 0/1 labels, and for each row the index of the file it came from."""

    texts: list[str]
    labels: list[int]
    files: list[SourceFile]
    origins: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "Dataset":
        """The rows at ``indices`` (in that order); ``files`` is kept as is."""
        return Dataset(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            files=list(self.files),
            origins=[self.origins[i] for i in indices],
        )

    def counts(self) -> dict[int, int]:
        """Rows per class: ``{0: negatives, 1: positives}``."""
        positives = sum(self.labels)
        return {0: len(self.labels) - positives, 1: positives}


# --- public functions ---------------------------------------------------------------------------


def load_dataset(
    paths: Sequence[Union[str, Path]],
    *,
    text_column: Optional[str] = None,
    label_column: Optional[str] = None,
    negative_max: Optional[float] = None,
    positive_min: Optional[float] = None,
    min_rows: int = 10,
    require_both_classes: bool = True,
    stdin: Optional[TextIO] = None,
) -> Dataset:
    """Read labelled files into one :class:`Dataset` (see the module docstring for the rules).

    Args:
        paths: files to read, in order; ``"-"`` reads ``stdin`` (default ``sys.stdin``).
        text_column, label_column: column (or JSON key) names; auto-detected when ``None``.
            Ignored for headerless files, which have exactly one text and one label.
        negative_max, positive_min: rating thresholds; give both or neither.
        min_rows: fewer usable rows than this (over all files) is an error.
        require_both_classes: an error if every row has the same label.

    Raises:
        DataError: a file is missing, unreadable, malformed or unusable (one-line message).
        InvalidInputError: the thresholds are inconsistent.
    """
    thresholds = _check_thresholds(negative_max, positive_min)
    if not paths:
        raise DataError("no data files given")
    texts: list[str] = []
    labels: list[int] = []
    origins: list[int] = []
    files: list[SourceFile] = []
    for index, path in enumerate(paths):
        with _Source(path, stdin) as source:
            file_texts, file_labels, source_file = _read_labelled(source, text_column, label_column, thresholds)
        texts.extend(file_texts)
        labels.extend(file_labels)
        origins.extend([index] * len(file_texts))
        files.append(source_file)
    dataset = Dataset(texts, labels, files, origins)
    names = _names(files)
    if len(dataset) < min_rows:
        skipped = sum(f.skipped for f in files)
        dropped = f"; {skipped} skipped: blank text or middle ratings" if skipped else ""
        raise DataError(f"too few rows: {len(dataset)} usable in {names} (need at least {min_rows}{dropped})")
    counts = dataset.counts()
    if require_both_classes and len(dataset) and min(counts.values()) == 0:
        only = 1 if counts[1] else 0
        kind = "positive" if only else "negative"
        raise DataError(
            f"only one class: all {len(dataset)} rows in {names} are {kind} (label {only}); "
            "training needs both negative and positive examples"
        )
    return dataset


def iter_records(
    path: Union[str, Path], *, text_column: Optional[str] = None, stdin: Optional[TextIO] = None
) -> tuple[str, str, Iterator[tuple[int, Record, str]]]:
    """Open an (unlabelled) file for scoring, streamed row by row.

    Returns ``(format, text_column, records)``; ``records`` yields ``(line_number, record, text)``
    where ``record`` is the original row, to be written back in the same format: a dict (column ->
    value as read, in file order) for csv, tsv and jsonl, a list of fields for tsv-headerless
    (``[text, label]``, or ``[text]`` for a line without a tab). Blank texts are yielded as they are
    (the caller keeps every row). The header (or the first JSON object) is read before returning, so
    format and column errors surface at once; the file is closed when the iterator is exhausted.
    """
    source = _Source(path, stdin)
    try:
        fmt = source.format
        if fmt == "tsv-headerless":
            return fmt, "0", _closing(source, _headerless_records(source))
        if fmt == "jsonl":
            objects = _json_objects(source)
            first = next(objects, None)
            if first is None:
                return fmt, text_column or "text", _closing(source, iter(()))
            key = _pick(list(first[1]), text_column, TEXT_COLUMNS, "text", source.name, fmt)
            return fmt, key, _closing(source, _json_records(source, key, _chain(first, objects)))
        header, rows = _csv_rows(source)
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise DataError(f"{source.name}: duplicate column name {duplicates[0]!r} in the header")
        text_index = header.index(_pick(header, text_column, TEXT_COLUMNS, "text", source.name, fmt))
        return fmt, header[text_index], _closing(source, _csv_records(header, text_index, rows))
    except BaseException:
        source.close()
        raise


def default_training_files() -> list[Path]:
    """The bundled training corpus: ``data/corpus.tsv.gz`` in the current directory, else in the
    sentikit source checkout (or next to the installed package).

    Raises:
        DataError: no corpus was found; the message says to pass training files explicitly.
    """
    here = Path(__file__).resolve()
    checkout = here.parents[2] if len(here.parents) > 2 else here.parent  # src/sentikit/data.py -> repo root
    candidates = [Path.cwd() / "data", checkout / "data", here.parent / "data"]
    for folder in candidates:
        corpus = folder / CORPUS_FILE
        if corpus.is_file():
            return [corpus.resolve()]
    raise DataError(
        f"no bundled training corpus (data/{CORPUS_FILE} not found in the current directory or the sentikit "
        "checkout): pass training files explicitly, e.g. sentikit train reviews.csv"
    )


def detect_format(path: Path, first_bytes: bytes) -> str:
    """The format of a file from its name and first (decompressed) bytes.

    ``.jsonl``/``.ndjson``/``.json`` (or content starting with ``{``) is jsonl; ``.csv`` is csv
    unless its first line has tabs and no comma; ``.tsv``/``.tab`` (or a first line with a tab)
    is tsv, or tsv-headerless when the first line's last tab-separated field is a label value
    rather than a column name. Anything else is csv.

    Raises:
        DataError: the file is a spreadsheet, a zip archive or a JSON array.
    """
    name = str(path)
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    if ext in _SPREADSHEET_SUFFIXES or first_bytes.startswith(_ZIP_MAGIC):
        raise DataError(f"{name}: a spreadsheet or archive, not a text file: export it as CSV (UTF-8) first")
    text = _decode_head(first_bytes).lstrip("\ufeff")
    stripped = text.lstrip()
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if ext in (".jsonl", ".ndjson", ".json") or (ext not in (".csv", ".tsv", ".tab") and stripped.startswith("{")):
        if stripped.startswith("["):
            raise DataError(
                f"{name}: a JSON array; sentikit reads JSON Lines (one object per line), e.g. jq -c '.[]' {name}"
            )
        return "jsonl"
    tabbed = "\t" in first_line
    if ext == ".csv" and not (tabbed and "," not in first_line):  # a tab-separated ".csv" is read as TSV
        return "csv"
    if ext in (".tsv", ".tab") or tabbed:
        return "tsv-headerless" if _looks_headerless(first_line) else "tsv"
    return "csv"


# --- reading bytes --------------------------------------------------------------------------------


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


class _TextAsBytes(io.RawIOBase):
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


class _Source:
    """An open input: name as given, detected format, decoded lines, and the hash of what was read."""

    def __init__(self, path: Union[str, Path], stdin: Optional[TextIO]) -> None:
        self.path = str(path)
        self.name = "stdin" if self.path == "-" else self.path  # for messages
        self._file: Optional[BinaryIO] = None
        if self.path == "-":
            text_in = stdin if stdin is not None else sys.stdin
            buffer = getattr(text_in, "buffer", None)
            raw: Any = buffer if buffer is not None else _TextAsBytes(text_in)
        else:
            raw = self._file = open_data_file(Path(path), self.name)
        try:
            self._hashing = _HashingReader(raw)
            stream: Any = io.BufferedReader(self._hashing, _SNIFF_BYTES)
            self.gzipped = stream.peek(2)[:2] == _GZIP_MAGIC
            if self.gzipped:
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            head = self._guard(lambda: _read_head(stream, _SNIFF_BYTES))
            if not _decode_head(head).lstrip("\ufeff").strip():
                raise DataError(f"{self.name}: empty file")
            self.format = detect_format(Path(self.name), head)
            self.utf16 = head.startswith(_UTF16_BOMS)
            self._stream = io.BufferedReader(_Replay(head, stream), _SNIFF_BYTES)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "_Source":
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
            while self._hashing.read(_SNIFF_BYTES):
                pass
        return self._hashing.sha256.hexdigest()

    def lines(self) -> Iterator[str]:
        """Decoded lines with their endings; physical line numbers are 1-based positions."""
        number = 0
        try:
            if self.utf16:
                try:
                    for number, line in enumerate(io.TextIOWrapper(self._stream, "utf-16", newline=""), 1):
                        yield line
                except UnicodeError:
                    raise DataError(f"{self.name}, line {number + 1}: not valid UTF-16 text") from None
                return
            for raw in self._stream:
                number += 1
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


def _decode_head(data: bytes) -> str:
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


# --- reading rows ---------------------------------------------------------------------------------


def _read_labelled(
    source: _Source,
    text_column: Optional[str],
    label_column: Optional[str],
    thresholds: Optional[tuple[float, float]],
) -> tuple[list[str], list[int], SourceFile]:
    """One file's kept texts and 0/1 labels, and its SourceFile."""
    fmt = source.format
    if fmt == "tsv-headerless":
        text_name, label_name = "0", "1"
        rows: Iterator[tuple[int, Any, Any]] = _headerless_rows(source)
    elif fmt == "jsonl":
        objects = _json_objects(source)
        first = next(objects, None)
        if first is None:
            raise DataError(f"{source.name}: no data rows after the header")
        keys = list(first[1])
        text_name = _pick(keys, text_column, TEXT_COLUMNS, "text", source.name, fmt)
        label_name = _pick(keys, label_column, LABEL_COLUMNS, "label", source.name, fmt)
        rows = _json_rows(source.name, _chain(first, objects), text_name, label_name)
    else:
        header, csv_rows = _csv_rows(source)
        text_name = _pick(header, text_column, TEXT_COLUMNS, "text", source.name, fmt)
        label_name = _pick(header, label_column, LABEL_COLUMNS, "label", source.name, fmt)
        text_index, label_index = header.index(text_name), header.index(label_name)
        if text_index == label_index:
            raise DataError(f"{source.name}: the text and label columns are the same column ({text_name!r})")
        rows = ((line, row[text_index], row[label_index]) for line, row in csv_rows)

    texts: list[str] = []
    values: list[Union[int, float]] = []  # int: a word label (final); float: a number (maybe a rating)
    blank = 0
    first_rating: Optional[tuple[int, Any]] = None
    seen_any = False
    for line, text, raw_label in rows:
        seen_any = True
        value = _parse_label(raw_label)
        if value is None:
            shown = "" if raw_label is None else raw_label
            if isinstance(shown, str) and not shown.strip():
                raise DataError(f"{source.name}, line {line}: empty label in column {label_name!r}")
            raise DataError(
                f"{source.name}, line {line}: unknown label {shown!r} in column {label_name!r} "
                f"(accepted: {ACCEPTED_LABELS})"
            )
        if not text.strip():
            blank += 1
            continue
        if first_rating is None and isinstance(value, float) and value not in (0.0, 1.0):
            first_rating = (line, raw_label)
        texts.append(text)
        values.append(value)
    if not seen_any:
        raise DataError(f"{source.name}: no data rows after the header")

    if first_rating is None:
        labels = [int(v) for v in values]
    else:
        cut = thresholds or _star_thresholds(values)
        if cut is None:
            numbers = [v for v in values if isinstance(v, float)]
            line, raw = first_rating
            raise DataError(
                f"{source.name}, line {line}: label {str(raw).strip()!r} in column {label_name!r} is a rating, not 0/1 "
                f"(values from {min(numbers):g} to {max(numbers):g}): pass --negative-max and --positive-min "
                "(ratings in between are dropped; only a 1-5 star scale has a default: 1-2 negative, 4-5 positive)"
            )
        kept_texts: list[str] = []
        labels = []
        for text, value in zip(texts, values):
            if isinstance(value, float):
                if value <= cut[0]:
                    value = 0
                elif value >= cut[1]:
                    value = 1
                else:
                    continue
            kept_texts.append(text)
            labels.append(int(value))
        texts = kept_texts
    skipped = blank + (len(values) - len(labels))
    return texts, labels, SourceFile(source.path, source.sha256(), len(labels), skipped, fmt, text_name, label_name)


def _headerless_rows(source: _Source) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(source.lines(), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        cut = line.rfind("\t")
        if cut < 0:
            raise DataError(f"{source.name}, line {number}: no tab; expected text<TAB>label")
        yield number, line[:cut], line[cut + 1 :]


def _headerless_records(source: _Source) -> Iterator[tuple[int, Record, str]]:
    for number, line in enumerate(source.lines(), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        cut = line.rfind("\t")
        fields = [line] if cut < 0 else [line[:cut], line[cut + 1 :]]
        yield number, fields, fields[0]


def _csv_rows(source: _Source) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (names stripped) and an iterator of (line, fields) padded/trimmed to its width."""
    delimiter = "," if source.format == "csv" else "\t"
    kind = "CSV" if source.format == "csv" else "TSV"
    reader = csv.reader(source.lines(), delimiter=delimiter, strict=True)
    end = 0

    def next_row() -> Optional[tuple[int, list[str]]]:
        nonlocal end
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise DataError(f"{source.name}, line {start}: malformed {kind} ({exc}); check the quotes in this row") from None
        end = reader.line_num
        return start, row

    while True:
        first = next_row()
        if first is None:
            raise DataError(f"{source.name}: empty file")
        if "".join(first[1]).strip():
            break
    header = first[1]
    width = len(header)
    separator = "comma" if delimiter == "," else "tab"

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            item = next_row()
            if item is None:
                return
            line, row = item
            if not "".join(row).strip():
                continue  # blank line, or a row of empty fields (spreadsheet exports)
            if len(row) != width:
                if len(row) > width:
                    if "".join(row[width:]).strip():
                        raise DataError(
                            f"{source.name}, line {line}: {len(row)} fields but the header has {width} "
                            f"(an unquoted {separator} in the text?)"
                        )
                    row = row[:width]
                else:
                    row = row + [""] * (width - len(row))
            yield line, row

    return header, rows()


def _csv_records(
    header: list[str], text_index: int, rows: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, Record, str]]:
    for line, row in rows:
        yield line, dict(zip(header, row)), row[text_index]


def _json_objects(source: _Source) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(source.lines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{source.name}, line {number}: malformed JSON ({exc.msg} at column {exc.pos + 1}); "
                "expected one JSON object per line"
            ) from None
        if not isinstance(value, dict):
            raise DataError(f"{source.name}, line {number}: expected a JSON object, found {_json_type(value)}")
        yield number, value


def _json_rows(
    name: str, objects: Iterator[tuple[int, dict[str, Any]]], text_key: str, label_key: str
) -> Iterator[tuple[int, str, Any]]:
    for number, obj in objects:
        for key in (text_key, label_key):
            if key not in obj:
                raise DataError(f"{name}, line {number}: no {key!r} key (found: {_listing(obj)})")
        yield number, _json_text(name, number, obj[text_key], text_key), obj[label_key]


def _json_records(
    source: _Source, text_key: str, objects: Iterator[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[int, Record, str]]:
    for number, obj in objects:
        if text_key not in obj:
            raise DataError(f"{source.name}, line {number}: no {text_key!r} key (found: {_listing(obj)})")
        yield number, obj, _json_text(source.name, number, obj[text_key], text_key)


def _json_text(name: str, number: int, value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise DataError(f"{name}, line {number}: {key!r} is {_json_type(value)}, not a string")
    return str(value)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _chain(first: tuple[int, dict[str, Any]], rest: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    yield first
    yield from rest


def _closing(source: _Source, records: Iterator[tuple[int, Record, str]]) -> Iterator[tuple[int, Record, str]]:
    try:
        yield from records
    finally:
        source.close()


# --- columns and labels ---------------------------------------------------------------------------


def _pick(
    columns: list[str], wanted: Optional[str], candidates: Sequence[str], kind: str, name: str, fmt: str
) -> str:
    """The column to use: ``wanted`` (exact, then case-insensitive) or the first known name."""
    flag = f"--{kind}-column"
    found = _listing(columns)
    noun = "key" if fmt == "jsonl" else "column"
    folded = [c.strip().casefold() for c in columns]
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.strip().casefold() in folded:
            return columns[folded.index(wanted.strip().casefold())]
        raise DataError(f"{name}: no {noun} {wanted!r} (found: {found}); check {flag}")
    for candidate in candidates:
        if candidate in folded:
            return columns[folded.index(candidate)]
    hint = ""
    if fmt == "csv" and len(columns) == 1 and ";" in columns[0]:
        hint = "; the file looks semicolon-separated: save it as comma-separated CSV"
    elif fmt == "csv" and columns and _parse_label(columns[-1]) is not None:
        hint = "; the first line looks like data: add a header row such as text,label"
    raise DataError(f"{name}: no {kind} {noun} (found: {found}); name it with {flag}{hint}")


def _parse_label(value: Any) -> Union[int, float, None]:
    """0/1 for a word or boolean label, a float for a number, None if not a label."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        folded = value.strip().casefold()
        if folded in _WORD_LABELS:
            return _WORD_LABELS[folded]
        try:
            number = float(folded)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _star_thresholds(values: Sequence[Union[int, float]]) -> Optional[tuple[float, float]]:
    """The default thresholds if the numbers are plainly 1-5 stars, else None.

    Plainly: whole numbers from 1 to 5 including both a low (1-2) and a high (4-5) one, so that
    1/2-coded binary labels (Yelp/Amazon polarity) are not mistaken for two negative ratings.
    """
    numbers = [v for v in values if isinstance(v, float)]
    if (
        all(v.is_integer() and 1.0 <= v <= 5.0 for v in numbers)
        and any(v <= STAR_THRESHOLDS[0] for v in numbers)
        and any(v >= STAR_THRESHOLDS[1] for v in numbers)
    ):
        return STAR_THRESHOLDS
    return None


def _looks_headerless(first_line: str) -> bool:
    """A first line ``text<TAB>label`` (a label value last, no text column name first) is data."""
    head, _, last = first_line.rpartition("\t")
    if not head or _parse_label(last) is None:
        return False
    return head.split("\t")[0].strip().casefold() not in TEXT_COLUMNS


def _check_thresholds(negative_max: Optional[float], positive_min: Optional[float]) -> Optional[tuple[float, float]]:
    if negative_max is None and positive_min is None:
        return None
    if negative_max is None or positive_min is None:
        raise InvalidInputError("give both --negative-max and --positive-min to binarise ratings")
    if not negative_max < positive_min:
        raise InvalidInputError(
            f"--negative-max ({negative_max:g}) must be below --positive-min ({positive_min:g})"
        )
    return (float(negative_max), float(positive_min))


def _listing(names: Any) -> str:
    return ", ".join(repr(name) for name in names) or "none"


def _names(files: Sequence[SourceFile]) -> str:
    names = ["stdin" if f.path == "-" else f.path for f in files]
    if len(names) > 3:
        return f"{', '.join(names[:3])} and {len(names) - 3} more"
    return ", ".join(names)
