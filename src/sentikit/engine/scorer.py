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
``Pipeline([("features", FeatureUnion([(name, TfidfVectorizer(...)), ...])), ("clf", LogisticRegression(...))])``,
optionally with ``("nb", sentikit.engine.features.NBWeighting())`` before the classifier (folded into the
coefficients); a bare TfidfVectorizer in place of the FeatureUnion works too; binary labels only. Anything
else is refused at export time with a message naming what is unsupported.
"""

from __future__ import annotations

import bisect
import json
import math
import operator
import re
import string
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar, cast

from ..errors import ModelIntegrityError
from .ngrams import char_ngrams, char_wb_word_ngrams, word_ngrams
from .scorer_file import FORMAT, FORMAT_VERSION, MAGIC, READABLE_VERSIONS, SortedTerms  # noqa: F401  (re-exported)
from .scorer_file import decode_floats, decode_order, scorer_spec_from_bytes
from ..errors import UnsupportedPipelineError as UnsupportedPipelineError  # defined in errors; importable here too
from .lexicon import FEATURE_NAMES as LEXICON_FEATURES, LexiconPrior, label as lexicon_label
from .text import ACCENT_FUNCTIONS as _ACCENT_FUNCTIONS, NegationTokenizer, SocialNormalizer, emoji_table
from .text import strip_accents_ascii, strip_accents_unicode  # noqa: F401  (re-exported)

# Words whose char_wb n-grams are remembered, and the longest word remembered: together they bound
# the caches however many, however long, never-repeating words a server is sent (for the default
# model, measured: ~6 MB full of everyday words, ~12 MB of random 32-letter ones). 20,000 words cover
# ~97% of English tokens.
WORD_CACHE_SIZE = 20_000
CACHED_WORD_LENGTH = 32
_Cached = TypeVar("_Cached")
_NO_FEATURE_IDS: dict[str, int] = {}  # what _Vectorizer's feature numbers are when it does not use them
_NO_FEATURE_VALUES: list[complex] = []
# Terms per step of a progressive load's finish_loading(): ~1 ms of work between two requests.
LOAD_CHUNK = 4096
_ANALYZERS = ("word", "char", "char_wb")


# --- the scorer ---------------------------------------------------------------------------------


@dataclass
class Explanation:
    """Why a text got its score: each n-gram's additive share of the logit.

    ``intercept + sum(c for _, c in contributions) == logit`` (to float rounding) and
    ``score == 1 / (1 + exp(-logit))``, or the model's calibration of the logit when it has one
    (``sentikit adapt``). ``positives``/``negatives`` are the ``top`` largest contributions each way.
    Character n-grams (when the model has them) are credited to the whitespace-delimited word they
    came from, stripped of surrounding punctuation, so every label is a word or a word n-gram; the
    lexicon prior's share is credited to each rated word as ``lexicon:word``.
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
    """One exported TfidfVectorizer: its analyzer settings and its vocabulary.

    Each vocabulary entry maps an n-gram to one complex number, ``norm_weight + 1j * logit_weight``:
    the real part is what the n-gram adds to the norm (idf**2 for l2, idf for l1) and the imaginary
    part what it adds to the dot product (idf * coef * FeatureUnion weight). A text's terms then
    sum in C with ``sum()``; only n-grams seen more than once need a correction in Python.
    """

    def __init__(self, spec: dict[str, Any], *, progressive: bool = False) -> None:
        self.name: str = spec["name"]
        self.analyzer: str = spec["analyzer"]
        if self.analyzer not in _ANALYZERS:
            raise ModelIntegrityError(f"scorer: unknown analyzer {self.analyzer!r}")
        self.lowercase: bool = bool(spec["lowercase"])
        self.accents = _ACCENT_FUNCTIONS[spec["strip_accents"]]
        self.normalizer: Optional[SocialNormalizer] = None
        if spec.get("preprocessor"):
            self.normalizer = SocialNormalizer.from_spec(spec["preprocessor"])
        self.low, self.high = (int(n) for n in spec["ngram_range"])
        self.tokenize: Optional[Callable[[str], list[str]]] = None
        if spec.get("tokenizer"):
            self.tokenize = NegationTokenizer.from_spec(spec["tokenizer"])
        elif self.analyzer == "word":
            self.tokenize = re.compile(spec["token_pattern"]).findall
        self.stop_words = frozenset(spec["stop_words"]) if spec.get("stop_words") else None
        # Whether logit_part_of_tokens applies, and with which tokenizer: Scorer.score then tokenizes
        # a text once for this vectorizer and the lexicon prior when their tokenizers are the same.
        self.takes_tokens = (self.analyzer == "word" and self.tokenize is not None and self.stop_words is None
                             and self.low == 1 and self.high <= 2)
        self.tokenizer_spec: Optional[dict[str, Any]] = (
            spec["tokenizer"] if self.takes_tokens and isinstance(self.tokenize, NegationTokenizer) else None
        )
        self.binary: bool = bool(spec["binary"])
        self.sublinear_tf: bool = bool(spec["sublinear_tf"])
        self.norm: Optional[str] = spec["norm"]
        if self.norm not in ("l1", "l2", None):
            raise ModelIntegrityError(f"scorer: unknown norm {self.norm!r}")
        self.encoding: str = spec.get("encoding", "utf-8")
        terms = spec["terms"]
        if isinstance(terms, (bytes, memoryview)):
            terms = str(terms, "utf-8")
        if isinstance(terms, str):
            terms = terms.split("\n") if terms else []
        norms: Iterable[float]
        logits: Iterable[float]
        if "values" in spec:
            values = decode_floats(spec["values"])
            if len(values) != 2 * len(terms):
                raise ModelIntegrityError(f"scorer: vectorizer {self.name!r} has mismatched array lengths")
            norms, logits = values[0::2], values[1::2]
        else:
            norms, logits = term_values(spec, len(terms))
        self.tf_table = [0.0] + [self._tf(c) for c in range(1, 64)]
        self.key = _preprocess_key(spec)
        # char_wb n-grams never cross whitespace, so what scoring needs of a word is cached per word
        self._word_cache: dict[str, tuple[complex, list[str]]] = {}
        # Binary char_wb n-grams count once per text, so scoring needs the distinct known n-grams
        # of all the words: deduplicating ints (feature numbers, a term's place in ``terms``) costs
        # much less than strings.
        self._word_ids: dict[str, tuple[int, ...]] = {}
        self._feature_id: Callable[[str], int] = _NO_FEATURE_IDS.__getitem__
        self._feature_value: Callable[[int], complex] = _NO_FEATURE_VALUES.__getitem__
        self.vocabulary: Mapping[str, complex]
        self._pending: Optional[tuple[list[str], Sequence[float], Sequence[float]]] = None
        order = spec.get("order")
        if progressive and order is not None and isinstance(norms, array):
            # Answer from a binary search over the sorted terms now, build the dict in finish_loading()
            sorted_terms = SortedTerms(terms, norms, cast("array[float]", logits), decode_order(order, len(terms)))
            self.vocabulary = sorted_terms
            if self.analyzer == "char_wb" and self.binary:
                self._feature_id, self._feature_value = sorted_terms.index, sorted_terms.value_at
            self._pending = (terms, norms, cast("array[float]", logits))
        else:
            self._install(dict(zip(terms, map(complex, norms, logits))))

    def _install(self, vocabulary: dict[str, complex]) -> None:
        # idf >= 1 always (smoothed or not), so no value is 0j and filter(None, ...) drops only misses.
        # Built with map() so that no Python code runs per term: loading is most of a server's start.
        if self.analyzer == "char_wb" and self.binary:
            self._feature_id = {term: i for i, term in enumerate(vocabulary)}.__getitem__
            self._feature_value = list(vocabulary.values()).__getitem__
        self.vocabulary = vocabulary
        self._pending = None

    @property
    def loading(self) -> bool:
        """Whether a progressive load has not built the vocabulary dict yet."""
        return self._pending is not None

    def finish_loading(self) -> Iterator[None]:
        """Build the vocabulary dict a progressive load deferred, yielding between chunks of
        ``LOAD_CHUNK`` terms so that a server keeps answering meanwhile (no-op when loaded)."""
        if self._pending is None:
            return
        terms, norms, logits = self._pending
        vocabulary: dict[str, complex] = {}
        for start in range(0, len(terms), LOAD_CHUNK):
            end = start + LOAD_CHUNK
            vocabulary.update(zip(terms[start:end], map(complex, norms[start:end], logits[start:end])))
            yield
        self._install(vocabulary)

    def __len__(self) -> int:
        return len(self.vocabulary)

    def _tf(self, count: int) -> float:
        if self.binary:
            return 1.0
        if self.sublinear_tf:
            return math.log(count) + 1.0
        return float(count)

    def preprocess(self, text: str) -> str:
        if self.normalizer is not None:
            return self.normalizer(text)
        if self.lowercase:
            text = text.lower()
        if self.accents is not None:
            text = self.accents(text)
        return text

    def _known_char_wb(self, word: str) -> list[str]:
        """A word's char_wb n-grams that are in the vocabulary, in order."""
        vocabulary = self.vocabulary
        return [g for g in char_wb_word_ngrams(word, self.low, self.high) if g in vocabulary]

    def _char_wb_word(self, word: str) -> tuple[complex, list[str]]:
        """A word's known char_wb n-grams and their summed values (cached)."""
        found = self._word_cache.get(word)
        if found is None:
            known = self._known_char_wb(word)
            found = _remember(self._word_cache, word, (sum(map(self.vocabulary.__getitem__, known), 0j), known))
        return found

    def _char_wb_ids(self, word: str) -> tuple[int, ...]:
        """A word's known char_wb n-grams as feature numbers (cached; binary char_wb only)."""
        found = self._word_ids.get(word)
        if found is None:
            # deduplicated already within the word: "hahahaha" is 4 features, not 20
            ids = tuple(dict.fromkeys(map(self._feature_id, self._known_char_wb(word))))
            found = _remember(self._word_ids, word, ids)
        return found

    def ngrams(self, doc: str) -> list[str]:
        """The preprocessed document's n-grams, as scikit-learn's analyzer makes them."""
        if self.analyzer == "char_wb":
            return list(chain.from_iterable(map(self._known_char_wb, doc.split())))
        if self.analyzer == "char":
            return char_ngrams(doc, self.low, self.high)
        assert self.tokenize is not None
        tokens = self.tokenize(doc)
        if self.stop_words is not None:
            tokens = [t for t in tokens if t not in self.stop_words]
        return word_ngrams(tokens, self.low, self.high)

    def logit_part(self, doc: str) -> float:
        """This vectorizer's share of the decision function for one preprocessed document."""
        if self.analyzer == "char_wb" and self.binary:
            # every known n-gram counts once: sum the distinct ones, all in C (dict.fromkeys
            # measured faster than a set union for this)
            words = doc.split()
            cached = list(map(self._word_ids.get, words))  # no Python call per word once cached
            if None in cached:
                cached = [ids if ids is not None else self._char_wb_ids(w) for ids, w in zip(cached, words)]
            distinct = dict.fromkeys(chain.from_iterable(cast("list[tuple[int, ...]]", cached)))
            total = sum(map(self._feature_value, distinct), 0j)
            if not total:
                return 0.0
        elif self.analyzer == "char_wb":
            parts = [self._char_wb_word(w) for w in doc.split()]
            total = sum([p[0] for p in parts], 0j)
            grams = list(chain.from_iterable([p[1] for p in parts]))
            if not total:
                return 0.0
            if len(set(grams)) != len(grams):
                total += self._repeats_correction(grams)
        elif self.takes_tokens:
            assert self.tokenize is not None
            return self.logit_part_of_tokens(self.tokenize(doc))
        else:
            grams = self.ngrams(doc)
            total = sum(filter(None, map(self.vocabulary.get, grams)), 0j)
            if not total:
                return 0.0
            if len(set(grams)) != len(grams):
                total += self._repeats_correction(grams)
        return self._normalized(total)

    def logit_part_of_tokens(self, tokens: list[str]) -> float:
        """:meth:`logit_part` of a document already tokenized by ``self.tokenize`` (``takes_tokens``
        vectorizers only: the default shape, word 1-2 grams, inlined: most of the time spent scoring)."""
        grams = tokens + [a + " " + b for a, b in zip(tokens, tokens[1:])] if self.high == 2 else tokens
        total = sum(filter(None, map(self.vocabulary.get, grams)), 0j)
        if not total:
            return 0.0
        # an n-gram can only repeat if its first token does
        if len(set(tokens)) != len(tokens):
            total += self._repeats_correction(grams)
        return self._normalized(total)

    def _normalized(self, total: complex) -> float:
        """The dot product of a non-empty text's summed term values, divided by its norm."""
        if self.norm == "l2":
            return total.imag / math.sqrt(total.real)
        if self.norm == "l1":
            return total.imag / total.real
        return total.imag

    def _repeats_correction(self, grams: list[str]) -> complex:
        # The fast sum counted an n-gram seen c times as c * (idf**2 + 1j * w); TF-IDF wants
        # tf(c)**2 * idf**2 in the norm and tf(c) * w in the dot product.
        get, table = self.vocabulary.get, self.tf_table
        fix = 0j
        for gram, count in Counter(grams).items():
            if count > 1:
                value = get(gram)
                if value is not None:
                    tf = table[count] if count < 64 else self._tf(count)
                    norm_tf = tf * tf if self.norm == "l2" else tf
                    fix += complex((norm_tf - count) * value.real, (tf - count) * value.imag)
        return fix

    def contributions(self, doc: str) -> list[tuple[str, float]]:
        """(label, contribution) pairs summing to :meth:`logit_part`."""
        grams = self.ngrams(doc)
        get = self.vocabulary.get
        counts = {g: c for g, c in Counter(grams).items() if get(g) is not None}
        tfs = {g: self.tf_table[c] if c < 64 else self._tf(c) for g, c in counts.items()}
        if self.norm == "l2":
            norm = math.sqrt(math.fsum(tfs[g] ** 2 * self.vocabulary[g].real for g in counts))
        elif self.norm == "l1":
            norm = math.fsum(tfs[g] * self.vocabulary[g].real for g in counts)
        else:
            norm = 1.0
        if not norm:
            return []
        feature = {g: tfs[g] * self.vocabulary[g].imag / norm for g in counts}
        if self.analyzer != "char_wb":
            return list(feature.items())
        # Credit each char n-gram's contribution to the words it occurs in, split by occurrence;
        # "great," is credited as "great", so its spelling adds to what the word n-gram says.
        credited: dict[str, float] = {}
        for word in doc.split():
            share = math.fsum(feature[g] / counts[g] for g in self._known_char_wb(word))
            label = word.strip(string.punctuation) or word
            credited[label] = credited.get(label, 0.0) + share
        return list(credited.items())


def term_values(spec: dict[str, Any], count: int) -> tuple[Iterable[float], Iterable[float]]:
    """A format-1 vectorizer's (norm weights, logit weights): ``idf**p`` (p = 2 for l2, else 1) and
    ``idf * coef * weight``, per term. Format 2 stores these, computed by this same function."""
    idf = decode_floats(spec["idf"]) if spec["idf"] is not None else array("d", [1.0]) * count
    coef = decode_floats(spec["coef"])
    if len(idf) != count or len(coef) != count:
        raise ModelIntegrityError(f"scorer: vectorizer {spec.get('name')!r} has mismatched array lengths")
    weight = float(spec.get("weight", 1.0))
    power = 2 if spec["norm"] == "l2" else 1
    norms = map(pow, idf, repeat(power))
    logits = map(operator.mul, idf, coef)
    if weight != 1.0:
        logits = map(operator.mul, logits, repeat(weight))
    return norms, logits


def _preprocess_key(spec: dict[str, Any]) -> tuple[Any, ...]:
    """Vectorizers with equal keys preprocess a text alike (then the engine does it once)."""
    if spec.get("preprocessor"):
        return ("social", json.dumps(spec["preprocessor"], sort_keys=True))
    return (bool(spec["lowercase"]), spec["strip_accents"])


class _LexiconPart:
    """The lexicon prior's three features (sentikit.engine.lexicon) and their coefficients."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.name: str = spec["name"]
        self.normalizer = SocialNormalizer.from_spec(spec["preprocessor"]) if spec.get("preprocessor") else None
        self.key = _preprocess_key({"lowercase": True, "strip_accents": None, **spec})
        self.prior = LexiconPrior(spec["lexicon"], int(spec["scope"]))
        self.takes_tokens = True
        self.tokenizer_spec: Optional[dict[str, Any]] = self.prior.tokenize.to_spec()
        weight = float(spec.get("weight", 1.0))
        coef = decode_floats(spec["coef"])
        if len(coef) != len(LEXICON_FEATURES):
            raise ModelIntegrityError(f"scorer: lexicon part {self.name!r} needs {len(LEXICON_FEATURES)} coefficients")
        self.coef = [c * weight for c in coef]

    def __len__(self) -> int:
        return len(self.coef)

    def preprocess(self, text: str) -> str:
        return self.normalizer(text) if self.normalizer is not None else text.lower()

    def logit_part(self, doc: str) -> float:
        return self.logit_part_of_tokens(self.prior.tokenize(doc))

    def logit_part_of_tokens(self, tokens: list[str]) -> float:
        a, b, c = self.prior.features_of_tokens(tokens)
        if not (a or b or c):
            return 0.0
        w = self.coef
        return a * w[0] + b * w[1] + c * w[2]

    def contributions(self, doc: str) -> list[tuple[str, float]]:
        w = self.coef
        return [(lexicon_label(token), a * w[0] + b * w[1] + c * w[2]) for token, (a, b, c) in self.prior.shares(doc)]


def _remember(cache: dict[str, _Cached], key: str, value: _Cached) -> _Cached:
    if len(key) > CACHED_WORD_LENGTH:
        return value
    if len(cache) >= WORD_CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


class Calibration:
    """A fitted map from the model's logit to a calibrated probability (``sentikit adapt`` makes one).

    ``platt``: ``sigmoid(a * logit + b)``. ``isotonic``: a non-decreasing step-linear function through
    the points ``(x, y)``, clipped at the ends (what ``IsotonicRegression(out_of_bounds="clip")``
    predicts). Stored in the scorer, so the engine, the server, ``score`` and ``monitor`` all use it.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.kind: str = spec["kind"]
        if self.kind == "platt":
            self.a, self.b = float(spec["a"]), float(spec["b"])
        elif self.kind == "isotonic":
            self.x = [float(v) for v in spec["x"]]
            self.y = [float(v) for v in spec["y"]]
            if not self.x or len(self.x) != len(self.y) or self.x != sorted(self.x):
                raise ModelIntegrityError("scorer: isotonic calibration needs sorted x and y of equal length")
        else:
            raise ModelIntegrityError(f"scorer: unknown calibration {self.kind!r}")
        self.spec = dict(spec)

    def __call__(self, logit: float) -> float:
        if self.kind == "platt":
            return _sigmoid(self.a * logit + self.b)
        x, y = self.x, self.y
        if logit <= x[0]:
            return y[0]
        if logit >= x[-1]:
            return y[-1]
        i = bisect.bisect_right(x, logit)
        x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
        return y0 + (y1 - y0) * (logit - x0) / (x1 - x0) if x1 > x0 else y1


class Scorer:
    """Scores texts with an exported linear text model; see :func:`load_scorer`."""

    def __init__(self, spec: dict[str, Any], *, progressive: bool = False) -> None:
        if spec.get("format") != FORMAT or spec.get("format_version") not in READABLE_VERSIONS:
            raise ModelIntegrityError(
                f"scorer: unsupported format {spec.get('format')!r} version {spec.get('format_version')!r}"
            )
        self.intercept = float(spec["intercept"])
        self.vectorizers: list[_Vectorizer | _LexiconPart] = [
            _LexiconPart(v) if v.get("analyzer") == "lexicon" else _Vectorizer(v, progressive=progressive)
            for v in spec["vectorizers"]
        ]
        if not self.vectorizers:
            raise ModelIntegrityError("scorer: no vectorizers")
        # build_pipeline's vectorizers all preprocess alike: then preprocess each text once
        self._one_preprocess = len({v.key for v in self.vectorizers}) == 1
        # ... and its word vectorizer and lexicon prior tokenize alike: then tokenize it once too
        specs = [v.tokenizer_spec for v in self.vectorizers]
        shared = next((spec for spec in specs if spec is not None and specs.count(spec) > 1), None)
        self._shares_tokens = [spec is not None and spec == shared for spec in specs]
        self._tokenize: Optional[Callable[[str], list[str]]] = (
            NegationTokenizer.from_spec(shared) if shared is not None and self._one_preprocess else None
        )
        self.n_features = sum(len(v) for v in self.vectorizers)
        self.calibration = Calibration(spec["calibration"]) if spec.get("calibration") else None
        self._probability: Callable[[float], float] = self.calibration or _sigmoid

    def finish_loading(self) -> Iterator[None]:
        """What a progressive load (``read_scorer(..., progressive=True)``) deferred, in steps of a
        few milliseconds: the vocabulary dicts, then the emoji table. Scores are the same before,
        during and after; only their speed changes. Nothing to do after an ordinary load."""
        deferred = [v for v in self.vectorizers if isinstance(v, _Vectorizer) and v.loading]
        if not deferred:
            return
        for pending in deferred:
            yield from pending.finish_loading()
        for vectorizer in self.vectorizers:
            normalizer = getattr(vectorizer, "normalizer", None)
            if normalizer is not None and "emoji" in normalizer.steps:
                emoji_table()
                yield
                break

    def _preprocessed(self, text: str) -> dict[tuple[Any, ...], str]:
        if not isinstance(text, str):
            if isinstance(text, bytes):
                text = text.decode(getattr(self.vectorizers[0], "encoding", "utf-8"))
            else:
                raise TypeError(f"expected a string to score, got {type(text).__name__}")
        docs: dict[tuple[Any, ...], str] = {}
        for v in self.vectorizers:
            if v.key not in docs:
                docs[v.key] = v.preprocess(text)
        return docs

    def logit(self, text: str) -> float:
        """The decision function (log-odds of positive) for one text."""
        if self._one_preprocess and type(text) is str:
            doc = self.vectorizers[0].preprocess(text)
            total = self.intercept
            for v in self.vectorizers:
                total += v.logit_part(doc)
            return total
        docs = self._preprocessed(text)
        return self.intercept + sum(v.logit_part(docs[v.key]) for v in self.vectorizers)

    def score(self, texts: Iterable[str]) -> list[float]:
        """Probability of the positive class (label 1) for each text."""
        texts = texts if isinstance(texts, list) else list(texts)
        if not self._one_preprocess or not all(type(text) is str for text in texts):
            return [self._probability(self.logit(text)) for text in texts]
        # One vectorizer at a time over the whole batch, so that its vocabulary and caches stay in
        # the CPU caches: ~10% faster than text by text, and the same sums in the same order.
        docs = list(map(self.vectorizers[0].preprocess, texts))
        logits = [self.intercept] * len(docs)
        tokens = list(map(self._tokenize, docs)) if self._tokenize is not None else None
        for v, shares in zip(self.vectorizers, self._shares_tokens):
            parts = map(v.logit_part_of_tokens, tokens) if shares and tokens is not None else map(v.logit_part, docs)
            logits = list(map(operator.add, logits, parts))
        return list(map(self._probability, logits))

    def score_one(self, text: str) -> float:
        """Probability of the positive class for one text."""
        return self._probability(self.logit(text))

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
            score=self._probability(logit),
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


def load_scorer(path: Path) -> Scorer:
    """Read an exported scorer file (see :func:`read_scorer`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelIntegrityError(f"{path}: unreadable scorer ({exc})") from None
    return read_scorer(data, source=path)


def read_scorer(data: bytes, *, source: Path | str = "scorer", progressive: bool = False) -> Scorer:
    """A scorer from an exported file's bytes: format 3 (binary, see ``MAGIC``), or the JSON of
    formats 1 and 2, gzip-compressed or not. Every flaw is a :class:`ModelIntegrityError`.

    ``progressive``: defer building the large vocabulary dicts to :meth:`Scorer.finish_loading`
    and score by binary search until then (format 3 only; a server's start, see bench/README.md)."""
    try:
        spec = scorer_spec_from_bytes(data)
    except (EOFError, ValueError) as exc:
        raise ModelIntegrityError(f"{source}: unreadable scorer ({exc})") from None
    try:
        return Scorer(spec, progressive=progressive)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ModelIntegrityError(f"{source}: malformed scorer ({exc!r})") from None
