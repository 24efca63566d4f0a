"""Training: build the scikit-learn pipeline, fit it, validate it, and register the result."""

from __future__ import annotations

import json
import platform
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from . import __version__
from .data import Dataset
from .data.sources import portable_data_path
from .errors import DataError, InvalidInputError
from .evaluate import compute_metrics
from .model import PIPELINE_FILE, SCORER_FILE, SentimentModel, register_model
from .engine.text import SOCIAL_STEPS

# Chosen with bench/quality.py (leave-one-domain-out accuracy, SST-2 dev, calibration).
DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngram_max": 2,  # word n-grams 1..N
    "word_min_df": 2,
    # keeps what scikit-learn's default r"(?u)\b\w\w+\b" drops: "n't"/"don't", one-letter words, ! and ?
    # (ignored when negation_scope > 0: sentikit.engine.text.TOKEN_PATTERN is used then)
    "token_pattern": r"(?u)\b\w[\w']*\b|[!?]",
    # mark up to N words after "not"/"never"/"n't"... as negated (NOT_good); 0 turns it off
    "negation_scope": 5,
    # char_wb 2-4 grams, by presence, kept when common: spelling-level cues ("unfunny", "-less")
    "char_ngrams": [2, 4],  # None, or [min, max] for char_wb n-grams
    # a share of the training texts (50 of the bundled corpus's 69,434), so that it scales with the
    # data: a few hundred rows of your own still get char n-grams. An integer is a count of texts.
    "char_min_df": 0.00072,
    "char_binary": True,  # char n-grams count once per text (presence), not by sublinear frequency
    "sublinear_tf": True,
    "strip_accents": "unicode",
    "max_features": None,
    "C": 10.0,
    "class_weight": "balanced",
    "nb_weighting": False,  # scale features by their naive-Bayes log-count ratio (NBSVM) before the LR
    # social-media normalisation before tokenising (sentikit.engine.text.SocialNormalizer); null turns it off
    "normalize": list(SOCIAL_STEPS),
    # weight of the VADER lexicon's three features (sentikit.engine.lexicon) in the FeatureUnion; 0 turns it off
    # 0.05: chosen by LODO (bench/README.md); a small weight keeps the L2 penalty on it, so the lexicon
    # fills gaps instead of overriding the n-grams (weight 1: LODO 0.866 but SST-2 dev 0.839)
    "lexicon_weight": 0.05,
    "max_iter": 2000,
}

ProgressCallback = Callable[[str], None]


@dataclass
class TrainResult:
    """A freshly registered model and what it took to get it."""

    model: SentimentModel
    metrics: dict[str, Any]
    train_rows: int
    validation_rows: int
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)


def _is_int(value: Any, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_pattern(value: Any) -> bool:
    try:
        return isinstance(value, str) and re.compile(value) is not None
    except re.error:
        return False


# What each parameter accepts, checked before anything is fitted: (description, check).
PARAM_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "word_ngram_max": ("an integer from 1 to 5", lambda v: _is_int(v) and v <= 5),
    "word_min_df": ("an integer >= 1", _is_int),
    "token_pattern": ("a regular expression", _is_pattern),
    "negation_scope": ("an integer >= 0 (0 turns negation marking off)", lambda v: _is_int(v, 0)),
    "char_ngrams": ("null or [min, max] with 1 <= min <= max <= 8",
                    lambda v: v is None or (isinstance(v, list) and len(v) == 2 and all(_is_int(n) for n in v) and v[0] <= v[1] <= 8)),
    "char_min_df": ("an integer >= 1 (texts) or a number between 0 and 1 (share of texts)",
                    lambda v: _is_int(v) or (isinstance(v, float) and 0.0 < v < 1.0)),
    "char_binary": ("true or false", lambda v: isinstance(v, bool)),
    "sublinear_tf": ("true or false", lambda v: isinstance(v, bool)),
    "strip_accents": ('"unicode", "ascii" or null', lambda v: v in ("unicode", "ascii", None)),
    "max_features": ("null or an integer >= 1", lambda v: v is None or _is_int(v)),
    "C": ("a number > 0", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    "class_weight": ('"balanced" or null', lambda v: v in ("balanced", None)),
    "nb_weighting": ("true or false", lambda v: isinstance(v, bool)),
    "max_iter": ("an integer >= 1", _is_int),
    "normalize": (f"null or a list of steps from {', '.join(SOCIAL_STEPS)}",
                  lambda v: v is None or (isinstance(v, list) and all(s in SOCIAL_STEPS for s in v))),
    "lexicon_weight": ("a number >= 0 (0 turns the lexicon off)",
                       lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0),
}


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line: VALUE is read as JSON (2, 0.5, true, null, [2, 4]) or else as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InvalidInputError(f"training parameter must look like KEY=VALUE, got '{text}'")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def resolve_params(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULT_PARAMS with ``overrides`` applied; unknown keys and unfit values are an error."""
    params = dict(DEFAULT_PARAMS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_PARAMS:
            raise InvalidInputError(f"unknown training parameter '{key}' (known: {', '.join(DEFAULT_PARAMS)})")
        description, check = PARAM_CHECKS[key]
        if not check(value):
            raise InvalidInputError(f"training parameter {key} must be {description}, got {json.dumps(value)}")
        params[key] = value
    return params


def _word_tokenizing(params: Mapping[str, Any]) -> dict[str, Any]:
    scope = int(params.get("negation_scope") or 0)
    if scope > 0:
        from .engine.text import NegationTokenizer

        return {"tokenizer": NegationTokenizer(scope), "token_pattern": None}
    return {"token_pattern": params.get("token_pattern", r"(?u)\b\w\w+\b")}


def build_pipeline(params: Mapping[str, Any], seed: int) -> Any:
    """The text classification pipeline: TF-IDF word (and optional char) n-grams + logistic regression."""
    import numpy
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    common: dict[str, Any] = {"lowercase": True, "strip_accents": params["strip_accents"], "sublinear_tf": params["sublinear_tf"],
                              "dtype": numpy.float64}
    normalizer = None
    if params.get("normalize") is not None:
        from .engine.text import SocialNormalizer

        # replaces scikit-learn's own preprocessing, so it lower-cases and strips accents itself
        normalizer = SocialNormalizer(params["normalize"], lowercase=True, strip_accents=params["strip_accents"])
        common["preprocessor"] = normalizer
    parts = [
        (
            "word",
            TfidfVectorizer(
                analyzer="word",
                ngram_range=(1, int(params["word_ngram_max"])),
                **_word_tokenizing(params),
                min_df=params["word_min_df"],
                max_features=params["max_features"],
                **common,
            ),
        )
    ]
    if params.get("char_ngrams"):
        low, high = params["char_ngrams"]
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(int(low), int(high)),
                    min_df=params["char_min_df"],
                    binary=bool(params.get("char_binary")),
                    **common,
                ),
            )
        )
    weights = None
    if params.get("lexicon_weight"):
        from .engine.features import LexiconFeatures

        scope = int(params.get("negation_scope") or 0) or 5
        parts.append(("lexicon", LexiconFeatures(normalizer, scope)))
        weights = {"lexicon": float(params["lexicon_weight"])}
    classifier = LogisticRegression(
        C=float(params["C"]),
        class_weight=params["class_weight"],
        max_iter=int(params["max_iter"]),
        solver="liblinear",
        random_state=seed,
    )
    if params.get("nb_weighting"):
        from .engine.features import NBWeighting

        return Pipeline([("features", FeatureUnion(parts, transformer_weights=weights)), ("nb", NBWeighting()), ("clf", classifier)])
    return Pipeline([("features", FeatureUnion(parts, transformer_weights=weights)), ("clf", classifier)])


# How the manifest records a data file; adapt's lineage imports this name too.
_portable_path = portable_data_path


def stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a stratified (train, validation) split."""
    from sklearn.model_selection import train_test_split

    indices = list(range(len(labels)))
    train_idx, val_idx = train_test_split(indices, test_size=fraction, random_state=seed, stratify=labels)
    return sorted(train_idx), sorted(val_idx)


def train_model(
    dataset: Dataset,
    *,
    workspace: Path,
    name: str,
    seed: int = 42,
    validation_fraction: float = 0.1,
    params: Optional[Mapping[str, Any]] = None,
    progress: Optional[ProgressCallback] = None,
) -> TrainResult:
    """Fit on a stratified split, validate, refit nothing, and register a new model version.

    The model is fitted on the training part only, so the validation metrics in the
    manifest are honest; the same data, parameters and seed give the same model.
    """
    import joblib
    import numpy
    import sklearn

    from .engine.export import export_scorer

    say = progress or (lambda message: None)
    if not 0.0 < validation_fraction < 0.5:
        raise InvalidInputError(f"validation fraction must be between 0 and 0.5, got {validation_fraction}")
    resolved = resolve_params(params)
    counts = dataset.counts()
    smallest = min(counts.get(0, 0), counts.get(1, 0))
    if smallest < 2 or round(len(dataset) * validation_fraction) < 2:
        raise DataError(f"too few rows to hold out a validation split ({len(dataset)} rows, {smallest} in the smaller class)")

    started = time.perf_counter()
    train_idx, val_idx = stratified_split(dataset.labels, validation_fraction, seed)
    train_part, val_part = dataset.subset(train_idx), dataset.subset(val_idx)
    say(f"fitting on {len(train_part):,} rows")
    pipeline = build_pipeline(resolved, seed)
    try:
        pipeline.fit(train_part.texts, numpy.asarray(train_part.labels))
    except ValueError as exc:  # e.g. a min_df that leaves no n-gram of a small dataset
        message = " ".join(str(exc).split())
        raise DataError(f"cannot fit the model to {len(train_part):,} rows with these parameters: {message}") from None
    say(f"validating on {len(val_part):,} rows")
    val_scores = [float(p) for p in pipeline.predict_proba(val_part.texts)[:, 1]]
    metrics = compute_metrics(val_part.labels, val_scores)

    def write_files(directory: Path) -> dict[str, Any]:
        say("saving")
        joblib.dump(pipeline, directory / PIPELINE_FILE, compress=3)
        export_scorer(pipeline, directory / SCORER_FILE)
        return {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {
                "sentikit": __version__,
                "scikit-learn": sklearn.__version__,
                "python": platform.python_version(),
            },
            "params": resolved,
            "seed": seed,
            "validation_fraction": validation_fraction,
            "data": {
                "files": [
                    {"path": _portable_path(f.path), "sha256": f.sha256, "rows": f.rows, "skipped": f.skipped, "format": f.format}
                    for f in dataset.files
                ],
                "rows": len(dataset),
                "train_rows": len(train_part),
                "validation_rows": len(val_part),
                "class_counts": {str(k): v for k, v in sorted(counts.items())},
            },
            "metrics": metrics,
        }

    model = register_model(workspace, name, write_files)
    return TrainResult(
        model=model,
        metrics=metrics,
        train_rows=len(train_part),
        validation_rows=len(val_part),
        seconds=time.perf_counter() - started,
        params=resolved,
    )
