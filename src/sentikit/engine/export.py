"""From a fitted scikit-learn pipeline to the engine's exported scorer (``scorer.json``).

Training and ``adapt`` use this; scoring and serving only read the result (:mod:`sentikit.engine.scorer`),
so nothing here runs in the serving image.
"""

from __future__ import annotations

import base64
import sys
from array import array
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Optional

from .._atomic import atomic_output
from .scorer import _ANALYZERS, Calibration, term_values
from .scorer_file import FORMAT, FORMAT_VERSION, encode_scorer
from ..errors import UnsupportedPipelineError
from .lexicon import FEATURE_NAMES as LEXICON_FEATURES
from .text import ACCENT_FUNCTIONS as _ACCENT_FUNCTIONS, NegationTokenizer, SocialNormalizer


def _encode_floats(values: Iterable[float]) -> str:
    data = array("d", values)
    if sys.byteorder != "little":
        data.byteswap()
    return base64.b64encode(data.tobytes()).decode("ascii")



def export_scorer(pipeline: Any, path: Path, *, calibration: Optional[dict[str, Any]] = None) -> None:
    """Write the scoring form of a fitted pipeline to ``path`` (atomically: temp file + rename), in
    the engine's binary format 3 (:func:`encode_scorer`).

    ``calibration`` (a :class:`Calibration` spec) maps the logit to the score instead of the
    logistic function.

    Raises:
        UnsupportedPipelineError: the pipeline is not one the engine reproduces exactly.
    """
    spec = scorer_spec(pipeline)
    if calibration is not None:
        Calibration(calibration)  # refuse a malformed one before writing
        spec["calibration"] = calibration
    with atomic_output(path, binary=True) as handle:
        handle.write(encode_scorer(spec))


def scorer_spec(pipeline: Any) -> dict[str, Any]:
    """The exported form of a fitted pipeline, as a JSON-ready dict."""
    steps = getattr(pipeline, "steps", None) or []
    scaling = None
    if len(steps) == 3 and type(steps[1][1]).__name__ == "NBWeighting":
        # a fixed diagonal scaling of the features: folded into the coefficients
        scaling = [float(r) for r in steps[1][1].ratio_]
        steps = [steps[0], steps[2]]
    if len(steps) != 2:
        raise UnsupportedPipelineError(
            "the scoring engine supports Pipeline([features, (NBWeighting,) LogisticRegression]) only, "
            f"got {type(pipeline).__name__} with {len(getattr(pipeline, 'steps', None) or [])} steps"
        )
    (_, features), (_, clf) = steps
    if type(clf).__name__ != "LogisticRegression":
        raise UnsupportedPipelineError(f"unsupported classifier {type(clf).__name__} (LogisticRegression only)")
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(clf, "classes_", [])]
    if len(classes) != 2 or getattr(clf, "coef_", None) is None or clf.coef_.shape[0] != 1:
        raise UnsupportedPipelineError(f"binary classification only, model has classes {classes}")
    coef = [float(c) for c in clf.coef_[0]]
    if scaling is not None:
        if len(scaling) != len(coef):
            raise UnsupportedPipelineError("NBWeighting and the classifier disagree on the feature count")
        coef = [c * r for c, r in zip(coef, scaling)]

    if type(features).__name__ == "FeatureUnion":
        members = features.transformer_list
        weights = features.transformer_weights or {}
    else:
        members, weights = [("features", features)], {}
    vectorizers = []
    offset = 0
    for name, vectorizer in members:
        if type(vectorizer).__name__ == "LexiconFeatures":
            size = len(LEXICON_FEATURES)
            spec = _lexicon_spec(name, vectorizer)
            spec["coef"] = _encode_floats(coef[offset : offset + size])
            spec["weight"] = float(weights.get(name, 1.0))
            vectorizers.append(spec)
            offset += size
            continue
        size = len(getattr(vectorizer, "vocabulary_", {}) or {})
        spec = _vectorizer_spec(name, vectorizer)
        own = coef[offset : offset + size]
        spec["coef"] = _encode_floats(own[j] for j in vectorizer.vocabulary_.values())
        spec["weight"] = float(weights.get(name, 1.0))
        vectorizers.append(_precomputed(spec))
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


def _precomputed(spec: dict[str, Any]) -> dict[str, Any]:
    """A vectorizer's precomputed form (formats 2 and 3): what the engine computes from idf and coef at every load
    (``engine.term_values``), computed once here, and the terms as one string where no term holds
    a line break. Loading the default model then takes ~20% less time (bench/README.md)."""
    terms: list[str] = spec["terms"]
    norms, logits = term_values(spec, len(terms))
    out = {k: v for k, v in spec.items() if k not in ("idf", "coef")}
    out["values"] = _encode_floats(chain.from_iterable(zip(norms, logits)))
    out["terms"] = "\n".join(terms) if not any("\n" in t for t in terms) else terms
    return out


def _lexicon_spec(name: str, features: Any) -> dict[str, Any]:
    preprocessor = features.preprocessor
    if preprocessor is not None and not isinstance(preprocessor, SocialNormalizer):
        raise UnsupportedPipelineError(f"lexicon step {name!r} has a custom preprocessor")
    return {
        "name": name,
        "analyzer": "lexicon",
        "preprocessor": preprocessor.to_spec() if preprocessor is not None else None,
        "scope": int(features.scope),
        "lexicon": dict(sorted(features.lexicon_.items())),
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
    if vectorizer.preprocessor is not None and not isinstance(vectorizer.preprocessor, SocialNormalizer):
        problems.append("a custom preprocessor")
    if vectorizer.tokenizer is not None and vectorizer.analyzer == "word" and not isinstance(vectorizer.tokenizer, NegationTokenizer):
        problems.append("a custom tokenizer")
    if vectorizer.strip_accents not in _ACCENT_FUNCTIONS:
        problems.append(f"strip_accents={vectorizer.strip_accents!r}")
    if vectorizer.norm not in ("l1", "l2", None):
        problems.append(f"norm={vectorizer.norm!r}")
    if numpy.dtype(vectorizer.dtype) != numpy.float64:
        problems.append(f"dtype={numpy.dtype(vectorizer.dtype)} (float64 only)")
    if problems:
        raise UnsupportedPipelineError(f"vectorizer {name!r} uses {', '.join(problems)}, which the scoring engine cannot reproduce")
    # Terms in the vocabulary's insertion order (first appearance in the training data, so common
    # n-grams first and close together in memory: measurably faster lookups than sorted order).
    vocabulary = vectorizer.vocabulary_
    terms = list(vocabulary)
    order = list(vocabulary.values())
    stop_words = vectorizer.get_stop_words() if vectorizer.analyzer == "word" else None
    return {
        "name": name,
        "analyzer": vectorizer.analyzer,
        "lowercase": bool(vectorizer.lowercase),
        "strip_accents": vectorizer.strip_accents,
        "token_pattern": vectorizer.token_pattern if vectorizer.analyzer == "word" else None,
        "tokenizer": vectorizer.tokenizer.to_spec() if isinstance(vectorizer.tokenizer, NegationTokenizer) else None,
        "preprocessor": vectorizer.preprocessor.to_spec() if vectorizer.preprocessor is not None else None,
        "stop_words": sorted(stop_words) if stop_words else None,
        "ngram_range": [int(n) for n in vectorizer.ngram_range],
        "binary": bool(vectorizer.binary),
        "sublinear_tf": bool(vectorizer.sublinear_tf),
        "norm": vectorizer.norm,
        "encoding": vectorizer.encoding,
        "idf": _encode_floats(float(vectorizer.idf_[j]) for j in order) if vectorizer.use_idf else None,
        "terms": terms,
    }
