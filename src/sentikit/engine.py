"""The scoring engine: a fitted TF-IDF + logistic regression pipeline, scored without scikit-learn.

A linear text model is a vocabulary, IDF weights, a normalisation rule, coefficients and an
intercept. :func:`export_scorer` writes exactly those (``scorer.json``) from a fitted
scikit-learn pipeline, and :class:`Scorer` reproduces ``pipeline.predict_proba(texts)[:, 1]``
with the standard library alone: the same preprocessing, tokenising and n-gram rules as
scikit-learn's ``TfidfVectorizer`` (copied, not approximated), the same TF-IDF weighting and
per-vectoriser normalisation, and the logistic function. Scores agree with scikit-learn to
~1e-15; the tests hold them to 1e-6 on every shared dev set.

Why plain Python: tokenising is Python code in scikit-learn too, so the per-call overhead
(sparse matrices, input validation, the FeatureUnion) is all there is to win. Measured in
``bench/engine.py`` (see ``bench/README.md``): faster than scikit-learn, NumPy arithmetic or
ONNX Runtime for single texts and batches, smaller in memory, and no third-party dependency in
the serving image.

Supported pipelines are the ones ``sentikit.train.build_pipeline`` makes:
``Pipeline([("features", FeatureUnion([(name, TfidfVectorizer(...)), ...])), ("clf", LogisticRegression(...))])``
(a bare TfidfVectorizer in place of the FeatureUnion works too), binary labels only. Anything
else is refused at export time with a message naming what is unsupported.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import re
import sys
import tempfile
import unicodedata
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from .errors import ModelIntegrityError

FORMAT = "sentikit-linear-text"
FORMAT_VERSION = 1
# Bounded so that a stream of never-repeating words cannot grow memory without limit.
WORD_CACHE_SIZE = 50_000
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's _VectorizerMixin._white_spaces
_ANALYZERS = ("word", "char", "char_wb")


class UnsupportedPipelineError(ModelIntegrityError):
    """The pipeline has a shape or an option the scoring engine cannot reproduce exactly."""


# --- scikit-learn's text preprocessing, reproduced ------------------------------------------


def strip_accents_unicode(s: str) -> str:
    """Same as ``sklearn.feature_extraction.text.strip_accents_unicode``."""
    if s.isascii():
        return s
    normalized = unicodedata.normalize("NFKD", s)
    return "".join([c for c in normalized if not unicodedata.combining(c)])


def strip_accents_ascii(s: str) -> str:
    """Same as ``sklearn.feature_extraction.text.strip_accents_ascii``."""
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


_ACCENT_FUNCTIONS: dict[Optional[str], Optional[Callable[[str], str]]] = {
    None: None,
    "unicode": strip_accents_unicode,
    "ascii": strip_accents_ascii,
}


def _word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
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


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
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


def _char_wb_word_ngrams(word: str, low: int, high: int) -> list[str]:
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


# --- the scorer ---------------------------------------------------------------------------------


@dataclass
class Explanation:
    """Why a text got its score: each n-gram's additive share of the logit.

    ``intercept + sum(c for _, c in contributions) == logit`` (to float rounding) and
    ``score == 1 / (1 + exp(-logit))``. ``positives``/``negatives`` are the ``top`` largest
    contributions each way. Character n-grams (when the model has them) are credited to the
    whitespace-delimited word they came from, so every label is a word or a word n-gram.
    """

    text: str
    score: float
    logit: float
    intercept: float
    contributions: list[tuple[str, float]]
    positives: list[tuple[str, float]] = field(default_factory=list)
    negatives: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: lists of ``{"ngram": ..., "contribution": ...}`` objects."""
        data = asdict(self)
        for key in ("contributions", "positives", "negatives"):
            data[key] = [{"ngram": ngram, "contribution": value} for ngram, value in data[key]]
        return data


class _Vectorizer:
    """One exported TfidfVectorizer: its analyzer settings, vocabulary and weights."""

    def __init__(self, spec: dict[str, Any], intercept_share: float = 0.0) -> None:
        self.name: str = spec["name"]
        self.analyzer: str = spec["analyzer"]
        if self.analyzer not in _ANALYZERS:
            raise ModelIntegrityError(f"scorer: unknown analyzer {self.analyzer!r}")
        self.lowercase: bool = bool(spec["lowercase"])
        self.accents = _ACCENT_FUNCTIONS[spec["strip_accents"]]
        self.low, self.high = (int(n) for n in spec["ngram_range"])
        self.tokenize = re.compile(spec["token_pattern"]).findall if self.analyzer == "word" else None
        self.stop_words = frozenset(spec["stop_words"]) if spec.get("stop_words") else None
        self.binary: bool = bool(spec["binary"])
        self.sublinear_tf: bool = bool(spec["sublinear_tf"])
        self.norm: Optional[str] = spec["norm"]
        self.encoding: str = spec.get("encoding", "utf-8")
        terms: list[str] = spec["terms"]
        self.terms = terms
        self.vocabulary: dict[str, int] = {term: index for index, term in enumerate(terms)}
        idf = _decode_floats(spec["idf"]) if spec["idf"] is not None else array("d", [1.0]) * len(terms)
        coef = _decode_floats(spec["coef"])
        if len(idf) != len(terms) or len(coef) != len(terms):
            raise ModelIntegrityError(f"scorer: vectorizer {self.name!r} has mismatched array lengths")
        weight = float(spec.get("weight", 1.0))
        self.idf = idf
        # idf * coef * FeatureUnion weight, so a text's dot product is one multiply per feature
        self.weighted = array("d", (i * c * weight for i, c in zip(idf, coef)))
        self.coef = array("d", (c * weight for c in coef))
        self.tf_table = [self._tf_slow(c) for c in range(64)]
        self.key = (self.lowercase, spec["strip_accents"])
        self._word_cache: dict[str, list[int]] = {}

    def _tf_slow(self, count: int) -> float:
        if self.binary:
            return 1.0
        if self.sublinear_tf:
            return math.log(count) + 1.0 if count else 0.0
        return float(count)

    def preprocess(self, text: str) -> str:
        if self.lowercase:
            text = text.lower()
        if self.accents is not None:
            text = self.accents(text)
        return text

    def indices(self, doc: str) -> list[int]:
        """Vocabulary indices of the preprocessed document's n-grams (unknown ones dropped)."""
        get = self.vocabulary.get
        if self.analyzer == "char_wb":
            # char_wb n-grams never cross whitespace, so a word's indices can be cached
            cache = self._word_cache
            parts = []
            for word in _WHITE_SPACES.sub(" ", doc).split():
                found = cache.get(word)
                if found is None:
                    found = [j for j in map(get, _char_wb_word_ngrams(word, self.low, self.high)) if j is not None]
                    if len(cache) >= WORD_CACHE_SIZE:
                        cache.clear()
                    cache[word] = found
                parts.append(found)
            return list(chain.from_iterable(parts))
        if self.analyzer == "char":
            ngrams = _char_ngrams(doc, self.low, self.high)
        else:
            assert self.tokenize is not None
            tokens = self.tokenize(doc)
            if self.stop_words is not None:
                tokens = [t for t in tokens if t not in self.stop_words]
            ngrams = _word_ngrams(tokens, self.low, self.high)
        return [j for j in map(get, ngrams) if j is not None]

    def logit_part(self, doc: str) -> float:
        """This vectorizer's share of the decision function for one preprocessed document."""
        indices = self.indices(doc)
        if not indices:
            return 0.0
        idf, weighted, table = self.idf, self.weighted, self.tf_table
        dot = 0.0
        if self.norm == "l2":
            squares = 0.0
            for j, count in Counter(indices).items():
                tf = table[count] if count < 64 else self._tf_slow(count)
                value = tf * idf[j]
                squares += value * value
                dot += tf * weighted[j]
            return dot / math.sqrt(squares) if squares else 0.0
        total = 0.0
        for j, count in Counter(indices).items():
            tf = table[count] if count < 64 else self._tf_slow(count)
            total += abs(tf * idf[j])
            dot += tf * weighted[j]
        if self.norm == "l1":
            return dot / total if total else 0.0
        return dot

    def contributions(self, doc: str) -> list[tuple[str, float]]:
        """(label, contribution) per feature occurrence group, summing to :meth:`logit_part`."""
        indices = self.indices(doc)
        counts = Counter(indices)
        values = {j: self._tf_slow(c) * self.idf[j] for j, c in counts.items()}
        if self.norm == "l2":
            norm = math.sqrt(sum(v * v for v in values.values()))
        elif self.norm == "l1":
            norm = sum(abs(v) for v in values.values())
        else:
            norm = 1.0
        if not norm:
            return []
        feature = {j: values[j] / norm * self.coef[j] for j in counts}
        if self.analyzer != "char_wb":
            return [(self.terms[j], value) for j, value in feature.items()]
        # Credit each char n-gram's contribution to the words it occurs in, split by occurrence.
        credited: dict[str, float] = {}
        for word in _WHITE_SPACES.sub(" ", doc).split():
            share = sum(feature[j] / counts[j] for j in self._word_cache.get(word) or self.indices(word))
            credited[word] = credited.get(word, 0.0) + share
        return list(credited.items())


class Scorer:
    """Scores texts with an exported linear text model; see :func:`load_scorer`."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if spec.get("format") != FORMAT or spec.get("format_version") != FORMAT_VERSION:
            raise ModelIntegrityError(
                f"scorer: unsupported format {spec.get('format')!r} version {spec.get('format_version')!r}"
            )
        self.intercept = float(spec["intercept"])
        self.vectorizers = [_Vectorizer(v) for v in spec["vectorizers"]]
        self.n_features = sum(len(v.terms) for v in self.vectorizers)

    def _preprocessed(self, text: str) -> dict[tuple[bool, Optional[str]], str]:
        if not isinstance(text, str):
            if isinstance(text, bytes):
                text = text.decode(self.vectorizers[0].encoding)
            else:
                raise TypeError(f"expected a string to score, got {type(text).__name__}")
        docs: dict[tuple[bool, Optional[str]], str] = {}
        for v in self.vectorizers:
            if v.key not in docs:
                docs[v.key] = v.preprocess(text)
        return docs

    def logit(self, text: str) -> float:
        """The decision function (log-odds of positive) for one text."""
        docs = self._preprocessed(text)
        return self.intercept + sum(v.logit_part(docs[v.key]) for v in self.vectorizers)

    def score(self, texts: Iterable[str]) -> list[float]:
        """Probability of the positive class (label 1) for each text."""
        return [_sigmoid(self.logit(text)) for text in texts]

    def score_one(self, text: str) -> float:
        """Probability of the positive class for one text."""
        return _sigmoid(self.logit(text))

    def explain(self, text: str, top: int = 10) -> Explanation:
        """The n-grams that pushed ``text``'s score up and down, with their exact contributions."""
        docs = self._preprocessed(text)
        merged: dict[str, float] = {}
        for v in self.vectorizers:
            for label, value in v.contributions(docs[v.key]):
                merged[label] = merged.get(label, 0.0) + value
        contributions = sorted(merged.items(), key=lambda item: (-abs(item[1]), item[0]))
        logit = self.intercept + math.fsum(value for _, value in contributions)
        positives = sorted((c for c in contributions if c[1] > 0), key=lambda c: -c[1])[: max(top, 0)]
        negatives = sorted((c for c in contributions if c[1] < 0), key=lambda c: c[1])[: max(top, 0)]
        return Explanation(
            text=text,
            score=_sigmoid(logit),
            logit=logit,
            intercept=self.intercept,
            contributions=contributions,
            positives=positives,
            negatives=negatives,
        )


def _sigmoid(x: float) -> float:
    # scipy.special.expit, without overflow for large |x|
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# --- the exported form --------------------------------------------------------------------------


def _encode_floats(values: Iterable[float]) -> str:
    data = array("d", values)
    if sys.byteorder != "little":
        data.byteswap()
    return base64.b64encode(data.tobytes()).decode("ascii")


def _decode_floats(text: str) -> array:
    data = array("d")
    data.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        data.byteswap()
    return data


def load_scorer(path: Path) -> Scorer:
    """Read an exported scorer (gzip-compressed JSON, see :func:`export_scorer`)."""
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        spec = json.loads(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable scorer ({exc})") from None
    try:
        return Scorer(spec)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ModelIntegrityError(f"{path}: malformed scorer ({exc!r})") from None


def export_scorer(pipeline: Any, path: Path, *, compress: bool = True) -> None:
    """Write the scoring form of a fitted pipeline to ``path`` (atomically: temp file + rename).

    Raises:
        UnsupportedPipelineError: the pipeline is not one the engine reproduces exactly.
    """
    spec = scorer_spec(pipeline)
    data = json.dumps(spec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if compress:
        # mtime=0: the same model gives the same bytes, hence the same manifest checksum
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".scorer-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def scorer_spec(pipeline: Any) -> dict[str, Any]:
    """The exported form of a fitted pipeline, as a JSON-ready dict."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2:
        raise UnsupportedPipelineError(
            "the scoring engine supports Pipeline([features, LogisticRegression]) only, "
            f"got {type(pipeline).__name__} with {len(steps or [])} steps"
        )
    (_, features), (_, clf) = steps
    if type(clf).__name__ != "LogisticRegression":
        raise UnsupportedPipelineError(f"unsupported classifier {type(clf).__name__} (LogisticRegression only)")
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(clf, "classes_", [])]
    if len(classes) != 2 or getattr(clf, "coef_", None) is None or clf.coef_.shape[0] != 1:
        raise UnsupportedPipelineError(f"binary classification only, model has classes {classes}")
    coef = [float(c) for c in clf.coef_[0]]

    if type(features).__name__ == "FeatureUnion":
        members = features.transformer_list
        weights = features.transformer_weights or {}
    else:
        members, weights = [("features", features)], {}
    vectorizers = []
    offset = 0
    for name, vectorizer in members:
        size = len(getattr(vectorizer, "vocabulary_", {}) or {})
        spec = _vectorizer_spec(name, vectorizer)
        spec["coef"] = _encode_floats(coef[offset : offset + size])
        spec["weight"] = float(weights.get(name, 1.0))
        vectorizers.append(spec)
        offset += size
    if offset != len(coef):
        raise UnsupportedPipelineError(f"feature count mismatch: vectorizers {offset}, classifier {len(coef)}")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "classes": [str(c) for c in classes],
        "intercept": float(clf.intercept_[0]),
        "vectorizers": vectorizers,
    }


def _vectorizer_spec(name: str, vectorizer: Any) -> dict[str, Any]:
    import numpy

    kind = type(vectorizer).__name__
    if kind != "TfidfVectorizer":
        raise UnsupportedPipelineError(f"feature step {name!r} is a {kind}; only TfidfVectorizer is supported")
    problems = []
    if vectorizer.input != "content":
        problems.append(f"input={vectorizer.input!r}")
    if callable(vectorizer.analyzer) or vectorizer.analyzer not in _ANALYZERS:
        problems.append("a custom analyzer")
    if vectorizer.preprocessor is not None:
        problems.append("a custom preprocessor")
    if vectorizer.tokenizer is not None and vectorizer.analyzer == "word":
        problems.append("a custom tokenizer")
    if vectorizer.strip_accents not in _ACCENT_FUNCTIONS:
        problems.append(f"strip_accents={vectorizer.strip_accents!r}")
    if vectorizer.norm not in ("l1", "l2", None):
        problems.append(f"norm={vectorizer.norm!r}")
    if numpy.dtype(vectorizer.dtype) != numpy.float64:
        problems.append(f"dtype={numpy.dtype(vectorizer.dtype)} (float64 only)")
    if problems:
        raise UnsupportedPipelineError(f"vectorizer {name!r} uses {', '.join(problems)}, which the scoring engine cannot reproduce")
    vocabulary = vectorizer.vocabulary_
    terms = [""] * len(vocabulary)
    for term, index in vocabulary.items():
        terms[index] = term
    stop_words = vectorizer.get_stop_words() if vectorizer.analyzer == "word" else None
    return {
        "name": name,
        "analyzer": vectorizer.analyzer,
        "lowercase": bool(vectorizer.lowercase),
        "strip_accents": vectorizer.strip_accents,
        "token_pattern": vectorizer.token_pattern if vectorizer.analyzer == "word" else None,
        "stop_words": sorted(stop_words) if stop_words else None,
        "ngram_range": [int(n) for n in vectorizer.ngram_range],
        "binary": bool(vectorizer.binary),
        "sublinear_tf": bool(vectorizer.sublinear_tf),
        "norm": vectorizer.norm,
        "encoding": vectorizer.encoding,
        "idf": _encode_floats(float(v) for v in vectorizer.idf_) if vectorizer.use_idf else None,
        "terms": terms,
    }
