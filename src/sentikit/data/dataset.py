"""Labelled datasets: :func:`load_dataset` reads training/evaluation files into one :class:`Dataset`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, TextIO, Union

from ..errors import DataError
from .formats import labelled_rows, open_table
from .labels import binarise, check_thresholds
from .sources import Source

__all__ = ["Dataset", "SourceFile", "load_dataset"]


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
    """Read labelled files into one :class:`Dataset` (see :mod:`sentikit.data` for the rules).

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
    thresholds = check_thresholds(negative_max, positive_min)
    if not paths:
        raise DataError("no data files given")
    texts: list[str] = []
    labels: list[int] = []
    origins: list[int] = []
    files: list[SourceFile] = []
    for index, path in enumerate(paths):
        with Source(path, stdin) as source:
            table = open_table(source)
            text_name, label_name, rows = labelled_rows(table, text_column, label_column)
            file_texts, file_labels, skipped = binarise(source.name, label_name, rows, thresholds)
            source_file = SourceFile(
                source.path, source.sha256(), len(file_labels), skipped, table.format, text_name, label_name
            )
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


def _names(files: Sequence[SourceFile]) -> str:
    names = ["stdin" if f.path == "-" else f.path for f in files]
    if len(names) > 3:
        return f"{', '.join(names[:3])} and {len(names) - 3} more"
    return ", ".join(names)
