"""What is driving it: the words and phrases over-represented in a window's negative posts
compared with the period before it, and pushing those posts' scores down.

A text's terms are the model's own: the n-grams its scorer knows and explains
(:meth:`sentikit.engine.Scorer.explain`), with what each contributed to the text's score. So the
desk tokenizes exactly as the model scores, and a term only drives a turn if the model itself
reads it as negative in those posts. Longer negative posts hold more function words ("and the",
"about"); these are over-represented too, but they are neither news nor what lowered the scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..engine.text import NEGATED_PREFIX

__all__ = ["Driver", "MIN_WEIGHT", "STOPWORDS", "Terms", "find_drivers"]

Explainer = Callable[[str, int], Any]  # (text, top) -> an Explanation with .contributions
_MAX_TERMS_PER_TEXT = 1000
_FEATURE_PREFIXES = ("lexicon:",)  # model features that are not words of the text
_NEGATED = " " + NEGATED_PREFIX  # "never NOT_again": the model's negation marks, not what people wrote
_CACHED_TEXTS = 2_000  # a few windows' worth (200 negative + 300 earlier posts each): bounded memory
# A driver's mean contribution to the log-odds in the negative posts must be at most this: a word the
# model barely weighs (or weighs up) does not explain why scores fell.
MIN_WEIGHT = 0.02

# English function words: an n-gram made only of these says nothing about what people complain of.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up us very was we were what
when where which while who whom why will with would you your yours yourself yourselves im ive id ill youre
theyre thats theres dont didnt doesnt isnt wasnt don didn doesn isn wasn won couldn wouldn s t d ll m re ve
also get got no not nor never nothing nobody none much many even still really ever yet now one two three
""".split())


@dataclass(frozen=True)
class Driver:
    """A term: the share of the window's negative posts that hold it, its share before, their ratio
    (lift), and its mean contribution to those negative posts' log-odds (weight, below zero)."""

    term: str
    negative: float
    baseline: float
    lift: float
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "negative": round(self.negative, 4), "baseline": round(self.baseline, 4),
                "lift": round(self.lift, 3), "weight": round(self.weight, 4)}


def is_function_words(term: str) -> bool:
    """True when every word of the n-gram ``term`` is an English function word ("and the", "about")."""
    return all(word.strip("'").replace("'", "") in STOPWORDS for word in term.split())


class Terms:
    """The known n-grams of a text (no model-only features) with their contributions to its log-odds,
    remembered: a dashboard asks for the drivers of the same window again and again, and explaining a
    text is the costly part."""

    def __init__(self, explain: Explainer) -> None:
        self.explain = explain
        self._cache: dict[str, Mapping[str, float]] = {}

    def __call__(self, text: str) -> Mapping[str, float]:
        found = self._cache.get(text)
        if found is None:
            explanation = self.explain(text, _MAX_TERMS_PER_TEXT)
            found = {label: float(value) for label, value in explanation.contributions
                     if not label.startswith(_FEATURE_PREFIXES) and _NEGATED not in " " + label}
            if len(self._cache) >= _CACHED_TEXTS:
                self._cache.clear()
            self._cache[text] = found
        return found


def _tally(terms: Callable[[str], Mapping[str, float]],
           texts: Iterable[str]) -> tuple[dict[str, int], dict[str, float], int]:
    """(texts holding each term, the sum of its contributions in them, texts read)."""
    counts: dict[str, int] = {}
    weights: dict[str, float] = {}
    total = 0
    for text in texts:
        total += 1
        for term, value in terms(text).items():
            counts[term] = counts.get(term, 0) + 1
            weights[term] = weights.get(term, 0.0) + value
    return counts, weights, total


def find_drivers(terms: Callable[[str], Mapping[str, float]], negative: Sequence[str], baseline: Sequence[str], *,
                 top: int = 10, min_weight: float = MIN_WEIGHT) -> list[Driver]:
    """The ``top`` terms of the ``negative`` texts that are both over-represented against ``baseline``
    (lift above 1) and pushing those texts' scores down (mean contribution at most ``-min_weight``),
    n-grams of function words left out (``terms``: a text's terms and contributions, e.g. a :class:`Terms`).

    Ranked by log(lift) times the weight pushing down: a term is as strong a driver as it is
    both new and negative. Shares are smoothed (half a text either way) so that a term absent before
    gets a finite lift; a term must appear in at least two negative texts (one when there are fewer than five).
    """
    neg_counts, neg_weights, neg_total = _tally(terms, negative)
    base_counts, _, base_total = _tally(terms, baseline)
    if not neg_total:
        return []
    least = 1 if neg_total < 5 else 2
    found = []
    for term, count in neg_counts.items():
        weight = neg_weights[term] / count
        if count < least or weight > -min_weight or is_function_words(term):
            continue
        before = base_counts.get(term, 0)
        lift = ((count + 0.5) / (neg_total + 1)) / ((before + 0.5) / (base_total + 1))
        if lift > 1.0:
            found.append(Driver(term, count / neg_total, before / base_total if base_total else 0.0, lift, weight))
    found.sort(key=lambda d: (d.weight * math.log(d.lift), -d.negative, d.term))
    return found[:top]
