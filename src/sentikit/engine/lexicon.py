"""A sentiment lexicon as prior knowledge for the linear model: three features per text, negation-aware.

The corpus is movie and product reviews; social and travel posts use words it barely has
("spotless", "gross", emoji). VADER's lexicon (Hutto & Gilbert, 2014; MIT, data/README.md) rates
7,500 words and emoticons from -4 to +4. :class:`LexiconPrior` turns a preprocessed text into

- ``lexicon_sum``: ``s / sqrt(s*s + 15)`` with ``s`` the sum of the valences (VADER's normalisation),
- ``lexicon_pos`` and ``lexicon_neg``: the same for the positive and the negative valences apart,

where a word the negation tokenizer marks as negated (``NOT_good``) counts ``-0.74`` times its
valence (VADER's negation factor). The model learns a weight for each feature, so the prior helps
most where the n-grams know least. Every feature is a sum over words scaled by one factor per
text, so each word's share is exact and ``explain`` names it (``lexicon:lovely``). Pure Python:
training (``sentikit.engine.features.LexiconFeatures``) and the engine call this same code.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources
from typing import Mapping

from .text import NEGATED_PREFIX, RESOURCES, NegationTokenizer

VADER_LEXICON = "vader_lexicon.txt"
FEATURE_NAMES = ("lexicon_sum", "lexicon_pos", "lexicon_neg")
NEGATION_FACTOR = -0.74  # vaderSentiment's N_SCALAR
ALPHA = 15.0  # vaderSentiment's normalize() constant
LABEL_PREFIX = "lexicon:"
_WORD = re.compile(r"^\w[\w']*$")


@lru_cache(maxsize=1)
def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (words only: emoticons reach the model as words via SocialNormalizer)."""
    text = resources.files(RESOURCES).joinpath(VADER_LEXICON).read_text(encoding="utf-8")
    lexicon: dict[str, float] = {}
    for line in text.splitlines():
        token, _, rest = line.partition("\t")
        if _WORD.match(token) and token == token.lower():
            lexicon[token] = float(rest.split("\t", 1)[0])
    return lexicon


def _squash(x: float) -> float:
    return x / math.sqrt(x * x + ALPHA)


class LexiconPrior:
    """Lexicon features of a preprocessed text, and each word's exact share of them."""

    def __init__(self, lexicon: Mapping[str, float], scope: int = 5) -> None:
        self.lexicon = dict(lexicon)
        self.scope = scope
        self.tokenize = NegationTokenizer(scope)
        self._negated = {NEGATED_PREFIX + word: NEGATION_FACTOR * value for word, value in self.lexicon.items()}
        # one lookup per token, in C (valences() spells the rule out): a rated word, or a negated one
        self._valence = {**self._negated, **self.lexicon}

    def valences(self, doc: str) -> list[tuple[str, float]]:
        """(token, valence) for each token of ``doc`` the lexicon rates, negated ones flipped."""
        get, negated = self.lexicon.get, self._negated.get
        found = []
        for token in self.tokenize(doc):
            value = get(token)
            if value is None and token.startswith(NEGATED_PREFIX):
                value = negated(token)
            if value is not None:
                found.append((token, value))
        return found

    def features(self, doc: str) -> tuple[float, float, float]:
        """(lexicon_sum, lexicon_pos, lexicon_neg) for one preprocessed text."""
        return self.features_of_tokens(self.tokenize(doc))

    def features_of_tokens(self, tokens: list[str]) -> tuple[float, float, float]:
        """:meth:`features` of a text already tokenized by ``self.tokenize``."""
        return self._features([v for v in map(self._valence.get, tokens) if v is not None])

    @staticmethod
    def _features(values: list[float]) -> tuple[float, float, float]:
        if not values:
            return (0.0, 0.0, 0.0)
        positive = math.fsum(v for v in values if v > 0)
        negative = -math.fsum(v for v in values if v < 0)
        return (_squash(math.fsum(values)), _squash(positive), _squash(negative))

    def shares(self, doc: str) -> list[tuple[str, tuple[float, float, float]]]:
        """Each rated token's share of each feature; the shares of a feature sum to it."""
        found = self.valences(doc)
        values = [v for _, v in found]
        total_sum, total_pos, total_neg = self._features(values)
        s = math.fsum(values)
        positive = math.fsum(v for v in values if v > 0)
        negative = -math.fsum(v for v in values if v < 0)
        out = []
        for token, v in found:
            out.append((
                token,
                (
                    total_sum * v / s if s else 0.0,
                    total_pos * v / positive if v > 0 else 0.0,
                    total_neg * -v / negative if v < 0 else 0.0,
                ),
            ))
        return out


def label(token: str) -> str:
    """How ``explain`` names a lexicon word: ``lexicon:lovely``, ``lexicon:not good``."""
    if token.startswith(NEGATED_PREFIX):
        return f"{LABEL_PREFIX}not {token[len(NEGATED_PREFIX):]}"
    return LABEL_PREFIX + token
