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

from .dataset import Dataset, SourceFile, load_dataset
from .formats import FORMATS, Record, detect_format, iter_records
from .labels import ACCEPTED_LABELS, LABEL_COLUMNS, STAR_THRESHOLDS, TEXT_COLUMNS
from .sources import (
    CORPUS_FILE,
    MAX_LINE_BYTES,
    LineSplitter,
    TextAsBytes,
    bounded_text_lines,
    default_training_files,
    open_data_file,
)

__all__ = [
    "ACCEPTED_LABELS",
    "CORPUS_FILE",
    "FORMATS",
    "MAX_LINE_BYTES",
    "LABEL_COLUMNS",
    "STAR_THRESHOLDS",
    "TEXT_COLUMNS",
    "Dataset",
    "LineSplitter",
    "Record",
    "SourceFile",
    "TextAsBytes",
    "bounded_text_lines",
    "default_training_files",
    "detect_format",
    "iter_records",
    "load_dataset",
    "open_data_file",
]
