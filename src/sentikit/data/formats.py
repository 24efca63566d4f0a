"""File formats: one reader per format, and the two views callers use.

:func:`open_table` reads a :class:`~sentikit.data.sources.Source` as a :class:`Table` (format,
column names, ``(line, record)`` rows) with one reader per format: RFC 4180 CSV/TSV with a header,
JSON Lines, and headerless ``text<TAB>label`` split on the *last* tab with no quote processing.
Training reads a table through :func:`labelled_rows` (text and raw label per row); scoring through
:func:`scoring_records` (the original record, to be written back, and its text).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, TextIO, Union

from ..errors import DataError
from .labels import LABEL_COLUMNS, TEXT_COLUMNS, parse_label
from .sources import MAX_LINE_BYTES, Source, decode_head

__all__ = ["FORMATS", "Record", "Table", "detect_format", "iter_records", "labelled_rows", "open_table", "scoring_records"]

FORMATS = ("csv", "tsv", "jsonl", "tsv-headerless")
_ZIP_MAGIC = b"PK\x03\x04"
_SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".ods", ".parquet", ".zip")

# Long reviews exceed csv's default 128 KiB field limit; the line bound still catches a runaway quote.
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))

Record = Union[dict[str, Any], list[str]]
Row = tuple[int, Record]  # (1-based line of the row's first physical line, record)


@dataclass
class Table:
    """One input read as rows: ``records`` are dicts for jsonl, field lists for the tab/comma formats."""

    source: Source
    format: str
    columns: list[str]  # header names; keys of the first JSON object; ["0", "1"] for headerless files
    rows: Iterator[Row]


def open_table(source: Source) -> Table:
    """Detect the format of ``source`` and read its header (or first JSON object).

    Raises:
        DataError: an unsupported file, an empty file, or a malformed first row.
    """
    fmt = detect_format(Path(source.name), source.head)
    if fmt == "tsv-headerless":
        return Table(source, fmt, ["0", "1"], _headerless_rows(source))
    if fmt == "jsonl":
        objects = _json_objects(source)
        first = next(objects, None)
        if first is None:
            return Table(source, fmt, [], iter(()))
        return Table(source, fmt, list(first[1]), _chain(first, objects))
    header, rows = _csv_rows(source, fmt)
    return Table(source, fmt, header, rows)


def labelled_rows(
    table: Table, text_column: Optional[str], label_column: Optional[str]
) -> tuple[str, str, Iterator[tuple[int, str, Any]]]:
    """The training view: ``(text column, label column, rows of (line, text, raw label))``.

    Raises:
        DataError: a column is missing or the two are one column; rows raise as they are read.
    """
    name, fmt = table.source.name, table.format
    if fmt == "tsv-headerless":
        return "0", "1", _tab_labelled(name, table.rows)
    if fmt == "jsonl" and not table.columns:
        raise DataError(f"{name}: no data rows after the header")
    text_name = _pick(table.columns, text_column, TEXT_COLUMNS, "text", name, fmt)
    label_name = _pick(table.columns, label_column, LABEL_COLUMNS, "label", name, fmt)
    if fmt == "jsonl":
        return text_name, label_name, _json_labelled(name, table.rows, text_name, label_name)
    text_index, label_index = table.columns.index(text_name), table.columns.index(label_name)
    if text_index == label_index:
        raise DataError(f"{name}: the text and label columns are the same column ({text_name!r})")
    rows = ((line, _fields(row)[text_index], _fields(row)[label_index]) for line, row in table.rows)
    return text_name, label_name, rows


def scoring_records(table: Table, text_column: Optional[str]) -> tuple[str, Iterator[tuple[int, Record, str]]]:
    """The scoring view: ``(text column, rows of (line, record, text))``.

    ``record`` is the original row to be written back in the same format: a dict (column -> value
    as read, in file order) for csv, tsv and jsonl, a list of fields for tsv-headerless (``[text,
    label]``, or ``[text]`` for a line without a tab). Blank texts are yielded as they are.
    """
    name, fmt = table.source.name, table.format
    if fmt == "tsv-headerless":
        return "0", ((line, row, _fields(row)[0]) for line, row in table.rows)
    if fmt == "jsonl":
        if not table.columns:
            return text_column or "text", iter(())
        key = _pick(table.columns, text_column, TEXT_COLUMNS, "text", name, fmt)
        return key, _json_records(name, table.rows, key)
    header = table.columns
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise DataError(f"{name}: duplicate column name {duplicates[0]!r} in the header")
    text_index = header.index(_pick(header, text_column, TEXT_COLUMNS, "text", name, fmt))
    records = ((line, dict(zip(header, _fields(row))), _fields(row)[text_index]) for line, row in table.rows)
    return header[text_index], records


def iter_records(
    path: Union[str, Path], *, text_column: Optional[str] = None, stdin: Optional[TextIO] = None
) -> tuple[str, str, Iterator[tuple[int, Record, str]]]:
    """Open an (unlabelled) file for scoring, streamed row by row: ``(format, text column, records)``.

    ``records`` is :func:`scoring_records`' view. The header (or the first JSON object) is read
    before returning, so format and column errors surface at once; the file is closed when the
    iterator is exhausted.
    """
    source = Source(path, stdin)
    try:
        table = open_table(source)
        text_name, records = scoring_records(table, text_column)
        return table.format, text_name, _closing(source, records)
    except BaseException:
        source.close()
        raise


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
    text = decode_head(first_bytes).lstrip("\ufeff")
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


# --- one reader per format -----------------------------------------------------------------------


def _headerless_rows(source: Source) -> Iterator[Row]:
    for number, line in enumerate(source.lines(), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        cut = line.rfind("\t")
        yield number, [line] if cut < 0 else [line[:cut], line[cut + 1 :]]


def _csv_rows(source: Source, fmt: str) -> tuple[list[str], Iterator[Row]]:
    """The header (names stripped) and an iterator of (line, fields) padded/trimmed to its width."""
    delimiter = "," if fmt == "csv" else "\t"
    kind = "CSV" if fmt == "csv" else "TSV"
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

    def rows() -> Iterator[Row]:
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


def _json_objects(source: Source) -> Iterator[tuple[int, dict[str, Any]]]:
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
        except RecursionError:
            raise DataError(f"{source.name}, line {number}: JSON nested too deeply to read") from None
        if not isinstance(value, dict):
            raise DataError(f"{source.name}, line {number}: expected a JSON object, found {_json_type(value)}")
        yield number, value


# --- the views' per-row steps ----------------------------------------------------------------------


def _fields(record: Record) -> list[str]:
    assert isinstance(record, list)  # the tab/comma readers yield field lists
    return record


def _object(record: Record) -> dict[str, Any]:
    assert isinstance(record, dict)  # the JSON Lines reader yields objects
    return record


def _tab_labelled(name: str, rows: Iterator[Row]) -> Iterator[tuple[int, str, str]]:
    for line, row in rows:
        fields = _fields(row)
        if len(fields) < 2:
            raise DataError(f"{name}, line {line}: no tab; expected text<TAB>label")
        yield line, fields[0], fields[1]


def _json_labelled(name: str, rows: Iterator[Row], text_key: str, label_key: str) -> Iterator[tuple[int, str, Any]]:
    for line, record in rows:
        obj = _object(record)
        for key in (text_key, label_key):
            if key not in obj:
                raise DataError(f"{name}, line {line}: no {key!r} key (found: {_listing(obj)})")
        yield line, _json_text(name, line, obj[text_key], text_key), obj[label_key]


def _json_records(name: str, rows: Iterator[Row], text_key: str) -> Iterator[tuple[int, Record, str]]:
    for line, record in rows:
        obj = _object(record)
        if text_key not in obj:
            raise DataError(f"{name}, line {line}: no {text_key!r} key (found: {_listing(obj)})")
        yield line, obj, _json_text(name, line, obj[text_key], text_key)


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


def _chain(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest


def _closing(source: Source, records: Iterator[tuple[int, Record, str]]) -> Iterator[tuple[int, Record, str]]:
    try:
        yield from records
    finally:
        source.close()


# --- columns ----------------------------------------------------------------------------------------


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
    elif fmt == "csv" and columns and parse_label(columns[-1]) is not None:
        hint = "; the first line looks like data: add a header row such as text,label"
    raise DataError(f"{name}: no {kind} {noun} (found: {found}); name it with {flag}{hint}")


def _looks_headerless(first_line: str) -> bool:
    """A first line ``text<TAB>label`` (a label value last, no text column name first) is data."""
    head, _, last = first_line.rpartition("\t")
    if not head or parse_label(last) is None:
        return False
    return head.split("\t")[0].strip().casefold() not in TEXT_COLUMNS


def _listing(names: Any) -> str:
    return ", ".join(repr(name) for name in names) or "none"


