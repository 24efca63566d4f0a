"""Scoring texts: from arguments, stdin lines or whole files (streamed), with any scorer.

A *scorer* is anything with ``score(list[str]) -> list[float]``: a local
:class:`~sentikit.model.SentimentModel` or a :class:`~sentikit.remote.RemoteScorer`.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol, Sequence, TextIO, cast

from .errors import InvalidInputError

POSITIVE, NEGATIVE = "positive", "negative"
BATCH_SIZE = 2048


class Scorer(Protocol):
    def score(self, texts: list[str]) -> list[float]: ...


@dataclass
class ScoreResult:
    """One scored text."""

    text: str
    score: float
    label: str


@dataclass
class FileScoreSummary:
    """What `score --input` wrote."""

    input: str
    output: str
    format: str
    rows: int
    positives: int
    mean_score: Optional[float]


def is_positive(score: float, threshold: float) -> bool:
    """The one label rule: a score is positive when it reaches the threshold."""
    return score >= threshold


def label_for(score: float, threshold: float) -> str:
    """``positive`` when the score reaches the threshold, else ``negative``."""
    return POSITIVE if is_positive(score, threshold) else NEGATIVE


def labels_for(scores: Iterable[float], threshold: float) -> list[str]:
    """:func:`label_for` of each score."""
    return [label_for(score, threshold) for score in scores]


def check_fraction(value: Any, name: str = "threshold") -> float:
    """The one check for a threshold or a 0-1 bound (a gate, an alert level): a finite number from 0 to 1.

    Raises:
        InvalidInputError: ``value`` is not a number, is NaN or infinite, or is outside 0-1.
    """
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be between 0 and 1, got {value!r}"[:200])
    return float(value)


def check_threshold(threshold: Any) -> float:
    """:func:`check_fraction` for a label threshold."""
    return check_fraction(threshold, "threshold")


def score_texts(scorer: Scorer, texts: Sequence[str], *, threshold: float = 0.5) -> list[ScoreResult]:
    """Score each text; an empty or blank text is a user error."""
    check_threshold(threshold)
    for position, text in enumerate(texts, start=1):
        if not text.strip():
            raise InvalidInputError(f"text {position} is empty")
    results: list[ScoreResult] = []
    for batch in _batches(list(texts), BATCH_SIZE):
        for text, value in zip(batch, scorer.score(batch)):
            results.append(ScoreResult(text, value, label_for(value, threshold)))
    return results


def read_lines(stream: TextIO, name: str = "stdin") -> list[str]:
    """Non-blank lines of a text stream, without their line endings; each line is bounded
    (:data:`~sentikit.data.MAX_LINE_BYTES`), so an endless line is a DataError, not a full memory."""
    from .data import bounded_text_lines  # here: the server imports this module for its label rule only

    return [line.rstrip("\r\n") for line in bounded_text_lines(stream, name) if line.strip()]


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _column_names(record: dict[str, Any]) -> tuple[str, str]:
    """Output column names that do not clash with the input's own columns."""
    if "score" in record or "label" in record:
        return "sentikit_score", "sentikit_label"
    return "score", "label"


def score_file(
    scorer: Scorer,
    input_path: str,
    output_path: Optional[str],
    *,
    text_column: Optional[str] = None,
    threshold: float = 0.5,
    stdin: Optional[TextIO] = None,
    stdout: Optional[TextIO] = None,
    on_batch: Optional[Callable[[int], None]] = None,
) -> FileScoreSummary:
    """Stream ``input_path`` (CSV, TSV, JSONL or headerless TSV) to ``output_path`` in the same format
    with score and label added. ``None`` or ``-`` writes to stdout; a file is written completely or
    not at all (:func:`~sentikit._atomic.atomic_output`: never renamed over a device or pipe)."""
    from ._atomic import atomic_output
    from .data import iter_records

    check_threshold(threshold)
    fmt, _column, records = iter_records(input_path, text_column=text_column, stdin=stdin)
    to_stdout = output_path in (None, "-")
    if not to_stdout and Path(output_path).resolve() == Path(input_path).resolve():  # type: ignore[arg-type]
        raise InvalidInputError("--output must differ from --input (the input is read while the output is written)")
    rows = positives = 0
    total = 0.0

    def write(handle: TextIO) -> None:
        nonlocal rows, positives, total
        writer: Optional[Callable[[Any, float, str], None]] = None
        for batch in _batches(records, BATCH_SIZE):
            scores = scorer.score([text for _line, _record, text in batch])
            for (_line, record, _text), value in zip(batch, scores):
                label = label_for(value, threshold)
                if writer is None:
                    writer = _make_writer(fmt, handle, record)
                writer(record, value, label)
                rows += 1
                positives += label == POSITIVE
                total += value
            if on_batch:
                on_batch(len(batch))
        handle.flush()

    if to_stdout:
        write(stdout or sys.stdout)
    else:
        with atomic_output(output_path, newline="") as handle:  # type: ignore[arg-type]
            write(cast(TextIO, handle))
    return FileScoreSummary(
        input=input_path,
        output=output_path if not to_stdout else "-",  # type: ignore[arg-type]
        format=fmt,
        rows=rows,
        positives=positives,
        mean_score=(total / rows) if rows else None,
    )


def _make_writer(fmt: str, handle: TextIO, first: Any) -> Callable[[Any, float, str], None]:
    """A row writer for ``fmt`` that appends score and label to each record."""
    if fmt == "jsonl":
        score_key, label_key = _column_names(first)

        def write_json(record: dict[str, Any], value: float, label: str) -> None:
            handle.write(json.dumps({**record, score_key: round(value, 6), label_key: label}, ensure_ascii=False) + "\n")

        return write_json
    if fmt == "tsv-headerless":

        def write_plain(record: list[str], value: float, label: str) -> None:
            handle.write("\t".join([*record, f"{value:.6f}", label]) + "\n")

        return write_plain
    import csv

    score_key, label_key = _column_names(first)
    dict_writer = csv.DictWriter(
        handle,
        fieldnames=[*first.keys(), score_key, label_key],
        delimiter="\t" if fmt == "tsv" else ",",
        lineterminator="\n",
    )
    dict_writer.writeheader()

    def write_row(record: dict[str, Any], value: float, label: str) -> None:
        dict_writer.writerow({**record, score_key: f"{value:.6f}", label_key: label})

    return write_row
