"""What is driving it: the words and phrases over-represented in a window's negative posts
compared with the period before it.

A text's terms are the model's own: the n-grams its scorer knows and explains
(:meth:`sentikit.engine.Scorer.explain`), so the desk tokenizes exactly as the model scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

__all__ = ["Driver", "find_drivers", "terms_of"]

Explainer = Callable[[str, int], Any]  # (text, top) -> an Explanation with .contributions
_MAX_TERMS_PER_TEXT = 1000
_FEATURE_PREFIXES = ("lexicon:",)  # model features that are not words of the text


@dataclass(frozen=True)
class Driver:
    """A term, the share of the window's negative posts that hold it, its share before, and their ratio."""

    term: str
    negative: float
    baseline: float
    lift: float

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "negative": round(self.negative, 4), "baseline": round(self.baseline, 4),
                "lift": round(self.lift, 3)}


def terms_of(explain: Explainer, text: str) -> set[str]:
    """The distinct known n-grams of ``text`` (no model-only features)."""
    explanation = explain(text, _MAX_TERMS_PER_TEXT)
    return {label for label, _ in explanation.contributions if not label.startswith(_FEATURE_PREFIXES)}


def _shares(explain: Explainer, texts: Iterable[str]) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    total = 0
    for text in texts:
        total += 1
        for term in terms_of(explain, text):
            counts[term] = counts.get(term, 0) + 1
    return counts, total


def find_drivers(explain: Explainer, negative: Sequence[str], baseline: Sequence[str], *, top: int = 10) -> list[Driver]:
    """The ``top`` terms whose share among ``negative`` texts most exceeds their share among ``baseline``.

    Shares are smoothed (half a text either way) so that a term absent before gets a finite lift;
    a term must appear in at least two negative texts (one when there are fewer than five).
    """
    neg_counts, neg_total = _shares(explain, negative)
    base_counts, base_total = _shares(explain, baseline)
    if not neg_total:
        return []
    least = 1 if neg_total < 5 else 2
    found = []
    for term, count in neg_counts.items():
        if count < least:
            continue
        share = count / neg_total
        before = base_counts.get(term, 0) / base_total if base_total else 0.0
        lift = ((count + 0.5) / (neg_total + 1)) / ((base_counts.get(term, 0) + 0.5) / (base_total + 1))
        if lift > 1.0:
            found.append(Driver(term, share, before, lift))
    found.sort(key=lambda d: (-d.lift, -d.negative, d.term))
    return found[:top]
