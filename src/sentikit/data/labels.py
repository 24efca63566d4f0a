"""Labels: words, booleans and numbers to 0/1, star-rating thresholds, and the known column names.

``0/1`` (also ``0.0/1.0``), ``negative/positive``, ``neg/pos`` and ``false/true`` (any case, blanks
around ignored, JSON booleans too) are 0/1. Any other number is a rating: at or below
``negative_max`` negative, at or above ``positive_min`` positive, dropped in between. Without
thresholds only a plain 1-5 star scale has a default (1-2 negative, 4-5 positive, 3 dropped).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence, Union

from ..errors import DataError, InvalidInputError

__all__ = [
    "ACCEPTED_LABELS",
    "LABEL_COLUMNS",
    "STAR_THRESHOLDS",
    "TEXT_COLUMNS",
    "apply_thresholds",
    "binarise",
    "check_thresholds",
    "is_rating",
    "parse_label",
    "star_thresholds",
]

TEXT_COLUMNS = ("text", "sentence", "review", "content", "body", "tweet", "message")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "rating", "score", "stars", "target")
STAR_THRESHOLDS = (2.0, 4.0)  # 1-5 stars: 1-2 negative, 4-5 positive, 3 dropped
ACCEPTED_LABELS = "0/1, negative/positive, neg/pos, false/true, or numeric ratings with --negative-max/--positive-min"

_WORD_LABELS = {"negative": 0, "neg": 0, "false": 0, "positive": 1, "pos": 1, "true": 1}

LabelValue = Union[int, float]  # int: a word/boolean label (final); float: a number (maybe a rating)


def parse_label(value: Any) -> Optional[LabelValue]:
    """0/1 for a word or boolean label, a float for a finite number, None if not a label."""
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


def is_rating(value: LabelValue) -> bool:
    """A number other than 0 and 1: it needs thresholds to become a label."""
    return isinstance(value, float) and value not in (0.0, 1.0)


def star_thresholds(values: Sequence[LabelValue]) -> Optional[tuple[float, float]]:
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


def apply_thresholds(value: LabelValue, cut: tuple[float, float]) -> Optional[int]:
    """0/1 for ``value`` under ``(negative_max, positive_min)``; None for a rating in between."""
    if not isinstance(value, float):
        return int(value)
    if value <= cut[0]:
        return 0
    if value >= cut[1]:
        return 1
    return None


def check_thresholds(negative_max: Optional[float], positive_min: Optional[float]) -> Optional[tuple[float, float]]:
    """``(negative_max, positive_min)``, or None when neither is given.

    Raises:
        InvalidInputError: only one is given, or they are not in order.
    """
    if negative_max is None and positive_min is None:
        return None
    if negative_max is None or positive_min is None:
        raise InvalidInputError("give both --negative-max and --positive-min to binarise ratings")
    if not negative_max < positive_min:
        raise InvalidInputError(
            f"--negative-max ({negative_max:g}) must be below --positive-min ({positive_min:g})"
        )
    return (float(negative_max), float(positive_min))


def binarise(
    name: str, label_column: str, rows: Iterable[tuple[int, str, Any]], thresholds: Optional[tuple[float, float]]
) -> tuple[list[str], list[int], int]:
    """One file's ``(line, text, raw label)`` rows as kept texts, their 0/1 labels and the skipped count.

    Rows with a blank text are skipped; so are ratings between the thresholds. ``thresholds`` (or
    the 1-5 star default) apply only when the file holds ratings, so a 0/1 file stays 0/1.

    Raises:
        DataError: an empty or unknown label, a file without rows, or ratings without thresholds.
    """
    texts: list[str] = []
    values: list[LabelValue] = []
    blank = 0
    first_rating: Optional[tuple[int, Any]] = None
    seen_any = False
    for line, text, raw_label in rows:
        seen_any = True
        value = parse_label(raw_label)
        if value is None:
            shown = "" if raw_label is None else raw_label
            if isinstance(shown, str) and not shown.strip():
                raise DataError(f"{name}, line {line}: empty label in column {label_column!r}")
            raise DataError(
                f"{name}, line {line}: unknown label {shown!r} in column {label_column!r} "
                f"(accepted: {ACCEPTED_LABELS})"
            )
        if not text.strip():
            blank += 1
            continue
        if first_rating is None and is_rating(value):
            first_rating = (line, raw_label)
        texts.append(text)
        values.append(value)
    if not seen_any:
        raise DataError(f"{name}: no data rows after the header")
    if first_rating is None:
        return texts, [int(v) for v in values], blank
    cut = thresholds or star_thresholds(values)
    if cut is None:
        numbers = [v for v in values if isinstance(v, float)]
        line, raw = first_rating
        raise DataError(
            f"{name}, line {line}: label {str(raw).strip()!r} in column {label_column!r} is a rating, not 0/1 "
            f"(values from {min(numbers):g} to {max(numbers):g}): pass --negative-max and --positive-min "
            "(ratings in between are dropped; only a 1-5 star scale has a default: 1-2 negative, 4-5 positive)"
        )
    kept_texts: list[str] = []
    labels: list[int] = []
    for text, value in zip(texts, values):
        label = apply_thresholds(value, cut)
        if label is not None:
            kept_texts.append(text)
            labels.append(label)
    return kept_texts, labels, blank + len(values) - len(labels)
