"""What is driving it: the words and phrases over-represented in a window's negative posts
compared with the period before it.

A text's terms are the model's own: the n-grams its scorer knows and explains
(:meth:`sentikit.engine.Scorer.explain`), so the desk tokenizes exactly as the model scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ..text import NEGATED_PREFIX

__all__ = ["Driver", "Terms", "find_drivers"]

Explainer = Callable[[str, int], Any]  # (text, top) -> an Explanation with .contributions
_MAX_TERMS_PER_TEXT = 1000
_FEATURE_PREFIXES = ("lexicon:",)  # model features that are not words of the text
_NEGATED = " " + NEGATED_PREFIX  # "never NOT_again": the model's negation marks, not what people wrote
_CACHED_TEXTS = 2_000  # a few windows' worth (200 negative + 300 earlier posts each): bounded memory


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


class Terms:
    """The distinct known n-grams of a text (no model-only features), remembered: a dashboard asks
    for the drivers of the same window again and again, and explaining a text is the costly part."""

    def __init__(self, explain: Explainer) -> None:
        self.explain = explain
        self._cache: dict[str, frozenset[str]] = {}

    def __call__(self, text: str) -> frozenset[str]:
        found = self._cache.get(text)
        if found is None:
            explanation = self.explain(text, _MAX_TERMS_PER_TEXT)
            found = frozenset(label for label, _ in explanation.contributions
                              if not label.startswith(_FEATURE_PREFIXES) and _NEGATED not in " " + label)
            if len(self._cache) >= _CACHED_TEXTS:
                self._cache.clear()
            self._cache[text] = found
        return found


def _shares(terms: Callable[[str], Iterable[str]], texts: Iterable[str]) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    total = 0
    for text in texts:
        total += 1
        for term in terms(text):
            counts[term] = counts.get(term, 0) + 1
    return counts, total


def find_drivers(terms: Callable[[str], Iterable[str]], negative: Sequence[str], baseline: Sequence[str], *,
                 top: int = 10) -> list[Driver]:
    """The ``top`` terms whose share among ``negative`` texts most exceeds their share among ``baseline``
    (``terms``: a text's terms, e.g. a :class:`Terms`).

    Shares are smoothed (half a text either way) so that a term absent before gets a finite lift;
    a term must appear in at least two negative texts (one when there are fewer than five).
    """
    neg_counts, neg_total = _shares(terms, negative)
    base_counts, base_total = _shares(terms, baseline)
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
