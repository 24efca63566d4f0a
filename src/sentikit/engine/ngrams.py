"""scikit-learn's n-gram rules (``_VectorizerMixin._word_ngrams``, ``_char_ngrams``,
``_char_wb_ngrams``), copied so that the engine makes exactly the n-grams a fitted vectorizer does."""

from __future__ import annotations

import re

_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's _VectorizerMixin._white_spaces
# scikit-learn's char_wb analyzer runs _WHITE_SPACES.sub(" ", text).split(); plain split() gives the
# same words because re's \s and str.isspace() agree on every code point (checked in the tests).


def word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    if high == 1:
        return tokens
    if low == 1:
        ngrams = list(tokens)
        low = 2
    else:
        ngrams = []
    count = len(tokens)
    append = ngrams.append
    join = " ".join
    if low == 2 and high >= 2:
        ngrams.extend([a + " " + b for a, b in zip(tokens, tokens[1:])])
        low = 3
    for n in range(low, min(high + 1, count + 1)):
        for i in range(count - n + 1):
            append(join(tokens[i : i + n]))
    return ngrams


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    length = len(text)
    if low == 1:
        ngrams = list(text)
        low = 2
    else:
        ngrams = []
    for n in range(low, min(high + 1, length + 1)):
        ngrams.extend([text[i : i + n] for i in range(length - n + 1)])
    return ngrams


def char_wb_word_ngrams(word: str, low: int, high: int) -> list[str]:
    """The char_wb n-grams of one whitespace-delimited word (scikit-learn's loop, per word)."""
    w = " " + word + " "
    w_len = len(w)
    ngrams = []
    for n in range(low, high + 1):
        if w_len <= n:
            # scikit-learn counts a word no longer than n once, then stops growing n
            ngrams.append(w)
            break
        ngrams.extend([w[i : i + n] for i in range(w_len - n + 1)])
    return ngrams
