"""Adapt a model to a team's own labelled posts: reweighted retraining, recalibration, proof of the gain.

Recipe (:func:`adapt_model`):

1. Hold out part of the user's posts for the before/after comparison (30%, stratified), or, with
   fewer than :data:`HOLDOUT_MIN_ROWS` posts, estimate it by stratified cross-validation.
2. Retrain the base model's pipeline (same parameters) on its training corpus plus the user's posts,
   each user post weighted so that together they weigh :data:`USER_SHARE` of the corpus.
3. Recalibrate on the user's domain: out-of-fold logits of the user's training posts (each fold's
   model trained without them) fit a Platt or isotonic map from logit to probability. It is stored in
   the exported scorer, so the engine, the server, ``score`` and ``monitor`` apply it exactly.
4. Compare base and adapted model on the held-out posts: accuracy, F1 of the negative class, ROC AUC
   and expected calibration error, each with a bootstrap 95% interval. The adapted model is
   registered only when it is better (higher accuracy, or equal accuracy and lower calibration
   error), unless forced; its manifest records its lineage (base model, files and their hashes).

With unlabelled posts as well (``unlabelled=``), each fit self-trains on them too
(:mod:`sentikit.selftrain`, the labelled-adapted model as the teacher), and the comparison gains a
third column, the labelled posts alone; ``sentikit adapt --unlabelled`` without labels is
:func:`sentikit.selftrain.adapt_unlabelled`.

The vectorizers are fitted once on the corpus and every user post (unsupervised: document
frequencies, no labels), and only the classifier is refitted per fold, which keeps the
cross-validation to seconds per fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from . import __version__
from .config import ADAPT_USER_SHARE
from .data import Dataset
from .errors import DataError, InvalidInputError
from .evaluate import bootstrap_metrics
from .model import PIPELINE_FILE, SCORER_FILE, SentimentModel, register_model
from .selftrain import MIN_POSTS, SelfTrainParams, pseudo_weight, self_train
from .unlabelled import UnlabelledPosts, dedup_key

HOLDOUT_FRACTION = 0.3
HOLDOUT_MIN_ROWS = 150  # fewer user posts than this: cross-validate instead of holding out
USER_SHARE = ADAPT_USER_SHARE  # the user's posts' share of the corpus weight (why 0.05: sentikit.config)
CALIBRATION_FOLDS = 5
ISOTONIC_MIN_ROWS = 1000  # "auto" picks isotonic from this many calibration posts on, else Platt
MIN_ROWS_PER_CLASS = 5
CALIBRATIONS = ("auto", "platt", "isotonic")
# parameters a model trained before they existed did not use
_ABSENT_PARAMS = {"normalize": None, "lexicon_weight": 0.0}

ProgressCallback = Callable[[str], None]


@dataclass
class Comparison:
    """Base against adapted model on the same held-out (or cross-validated) user posts."""

    method: str  # "holdout" or "cross-validation"
    rows: int
    before: dict[str, dict[str, Optional[float]]]
    after: dict[str, dict[str, Optional[float]]]
    better: bool
    labelled_alone: Optional[dict[str, dict[str, Optional[float]]]] = None  # with unlabelled posts: without them

    def to_dict(self) -> dict[str, Any]:
        out = {"method": self.method, "rows": self.rows, "before": self.before, "after": self.after, "better": self.better}
        return {**out, "labelled_alone": self.labelled_alone} if self.labelled_alone is not None else out


@dataclass
class AdaptResult:
    """What `sentikit adapt` did: the comparison, and the new model when it was registered."""

    base: str
    comparison: Comparison
    model: Optional[SentimentModel]
    user_rows: int
    user_weight: float
    calibration: dict[str, Any]
    seconds: float
    forced: bool = False
    notes: list[str] = field(default_factory=list)
    selftrain: Optional[dict[str, Any]] = None  # with unlabelled posts: parameters and pseudo-labels


def fit_calibration(logits: Sequence[float], labels: Sequence[int], method: str = "auto") -> dict[str, Any]:
    """A calibration spec (``sentikit.engine.Calibration``) fitted to logits and their true labels."""
    import numpy
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if method not in CALIBRATIONS:
        raise InvalidInputError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got '{method}'")
    x = numpy.asarray(logits, dtype=float)
    y = numpy.asarray(labels, dtype=int)
    if method == "auto":
        method = "isotonic" if len(y) >= ISOTONIC_MIN_ROWS else "platt"
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
        return {"kind": "isotonic", "x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_],
                "rows": int(len(y))}
    platt = LogisticRegression(C=1e4, solver="lbfgs").fit(x.reshape(-1, 1), y)
    return {"kind": "platt", "a": float(platt.coef_[0][0]), "b": float(platt.intercept_[0]), "rows": int(len(y))}


def calibrate(spec: Mapping[str, Any], logits: Sequence[float]) -> list[float]:
    """Probabilities from logits through a calibration spec (the engine's own code)."""
    from .engine import Calibration

    mapping = Calibration(dict(spec))
    return [mapping(float(v)) for v in logits]


def oof_accuracy(spec: Mapping[str, Any], oof: Sequence[float], labels: Sequence[int]) -> float:
    """Accuracy of calibrated out-of-fold logits: how a variant did on the training posts it never saw."""
    return sum((p >= 0.5) == (y == 1) for p, y in zip(calibrate(spec, oof), labels)) / max(len(labels), 1)


def keep_self_training(alone: tuple[Any, dict[str, Any]], alone_oof: Sequence[float], both: tuple[Any, dict[str, Any]],
                       both_oof: Sequence[float], labels: Sequence[int]) -> bool:
    """Use the self-trained variant only when it is at least as accurate out-of-fold on the labelled posts."""
    return oof_accuracy(both[1], both_oof, labels) >= oof_accuracy(alone[1], alone_oof, labels)


def user_weight(corpus_rows: int, user_rows: int, share: float = USER_SHARE) -> float:
    """Per-post training weight that makes ``user_rows`` posts weigh ``share`` of the corpus (at least 1)."""
    return max(1.0, share * corpus_rows / max(user_rows, 1))


def adapted_classifiers(
    x_corpus: Any,
    y_corpus: Any,
    x_user: Any,
    y_user: Any,
    make_classifier: Callable[[], Any],
    *,
    weight: float,
    folds: int = CALIBRATION_FOLDS,
    calibration: str = "auto",
    seed: int = 42,
    corpus_weights: Any = None,
    oof_out: Optional[list[float]] = None,
) -> tuple[Any, dict[str, Any]]:
    """The classifier fitted on corpus + weighted user rows, and its calibration from out-of-fold logits.

    Works on feature matrices, so ``bench/quality.py`` runs the very same recipe on cached features.
    ``corpus_weights`` (default: 1 per row) weighs the corpus rows, pseudo-labelled posts among them.
    ``oof_out``, when given, receives the out-of-fold logits of the user rows.
    """
    import numpy
    import scipy.sparse
    from sklearn.model_selection import StratifiedKFold

    y_user = numpy.asarray(y_user)
    n_user = len(y_user)

    def fit(rows: Any) -> Any:
        x = scipy.sparse.vstack([x_corpus, x_user[rows]]).tocsr()
        y = numpy.concatenate([y_corpus, y_user[rows]])
        base_weights = numpy.ones(x_corpus.shape[0]) if corpus_weights is None else numpy.asarray(corpus_weights, dtype=float)
        w = numpy.concatenate([base_weights, numpy.full(len(rows), weight)])
        return make_classifier().fit(x, y, sample_weight=w)

    smallest = int(min(numpy.bincount(y_user, minlength=2)))
    k = max(2, min(folds, smallest))
    oof = numpy.zeros(n_user)
    for train_rows, test_rows in StratifiedKFold(k, shuffle=True, random_state=seed).split(numpy.zeros(n_user), y_user):
        oof[test_rows] = fit(train_rows).decision_function(x_user[test_rows])
    spec = fit_calibration(oof.tolist(), y_user.tolist(), calibration)
    if oof_out is not None:
        oof_out[:] = oof.tolist()
    return fit(numpy.arange(n_user)), spec


def _base_params(base: SentimentModel) -> dict[str, Any]:
    from .train import DEFAULT_PARAMS, resolve_params

    recorded = dict(base.manifest.get("params") or {})
    if not recorded:
        raise DataError(f"model {base.reference} records no training parameters; retrain it with `sentikit train`")
    known = {k: v for k, v in {**_ABSENT_PARAMS, **recorded}.items() if k in DEFAULT_PARAMS}
    return resolve_params(known)


def _split_features(pipeline: Any) -> tuple[Any, Any]:
    """(feature steps as one transformer, classifier) of a build_pipeline pipeline."""
    from sklearn.pipeline import Pipeline

    steps = pipeline.steps
    features = steps[0][1] if len(steps) == 2 else Pipeline(steps[:-1])
    return features, steps[-1][1]


def _check_user_data(user: Dataset) -> None:
    counts = user.counts()
    if min(counts.get(0, 0), counts.get(1, 0)) < MIN_ROWS_PER_CLASS:
        raise DataError(
            f"adapting needs at least {MIN_ROWS_PER_CLASS} labelled posts of each class, got "
            f"{counts.get(0, 0)} negative and {counts.get(1, 0)} positive"
        )


def adapt_model(
    base: SentimentModel,
    user: Dataset,
    corpus: Dataset,
    *,
    workspace: Path,
    name: Optional[str] = None,
    seed: int = 42,
    share: float = USER_SHARE,
    calibration: str = "auto",
    force: bool = False,
    unlabelled: Optional[UnlabelledPosts] = None,
    selftrain: Optional[SelfTrainParams] = None,
    progress: Optional[ProgressCallback] = None,
) -> AdaptResult:
    """Adapt ``base`` to the user's labelled posts (see the module docstring); register when better or forced.

    With ``unlabelled`` posts, the adapted model also self-trains on them (:mod:`sentikit.selftrain`,
    the labelled-adapted model is the teacher), and the comparison holds three models on the same
    held-out posts: the base, the labelled posts alone, and both; the one registered is both.
    """
    import numpy
    import scipy.sparse
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, train_test_split

    say = progress or (lambda message: None)
    if calibration not in CALIBRATIONS:
        raise InvalidInputError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got '{calibration}'")
    if not 0.0 < share < 1.0:
        raise InvalidInputError(f"user share must be between 0 and 1, got {share}")
    st = (selftrain or SelfTrainParams()).check()
    _check_user_data(user)
    started = time.perf_counter()
    from .train import build_pipeline

    params = _base_params(base)
    pipeline = build_pipeline(params, seed)
    features, classifier = _split_features(pipeline)
    y_user = numpy.asarray(user.labels)
    y_corpus = numpy.asarray(corpus.labels)
    n = len(y_user)
    posts: list[str] = []
    if unlabelled is not None:
        # a labelled post is only ever used with its label (and never pseudo-labelled where it is tested)
        labelled_keys = {dedup_key(t) for t in user.texts}
        posts = [t for t in unlabelled.texts if dedup_key(t) not in labelled_keys]
        if len(posts) < MIN_POSTS:
            raise DataError(f"too few unlabelled posts besides the labelled ones: {len(posts)} (need at least {MIN_POSTS})")

    say(f"fitting the features on {len(corpus):,} corpus rows and {n + len(posts):,} of your posts")
    try:
        x_all = features.fit_transform(list(corpus.texts) + list(user.texts) + posts)
    except ValueError as exc:
        raise DataError(f"cannot fit the base model's features to this data: {' '.join(str(exc).split())}") from None
    x_all = x_all.tocsr()
    x_corpus, x_user, x_posts = x_all[: len(y_corpus)], x_all[len(y_corpus): len(y_corpus) + n], x_all[len(y_corpus) + n:]

    def make_classifier() -> Any:
        return clone(classifier)

    rounds: list[list[dict[str, int]]] = []

    def fit(rows: Any, weight: float, folds: int) -> tuple[tuple[Any, dict[str, Any]], Optional[tuple[Any, dict[str, Any]]]]:
        """(labelled alone, labelled + self-trained on the posts) fitted on the user rows ``rows``."""
        alone_oof: list[float] = []
        alone = adapted_classifiers(x_corpus, y_corpus, x_user[rows], y_user[rows], make_classifier,
                                    weight=weight, calibration=calibration, seed=seed, folds=folds, oof_out=alone_oof)
        if not posts:
            return alone, None
        both_oof: list[float] = []

        def refit(pseudo: Any, labels: Any) -> tuple[Any, Any]:
            say(f"self-training on {len(pseudo):,} pseudo-labelled posts")
            both = adapted_classifiers(
                scipy.sparse.vstack([x_corpus, x_posts[pseudo]]).tocsr(), numpy.concatenate([y_corpus, labels]),
                x_user[rows], y_user[rows], make_classifier, weight=weight, calibration=calibration, seed=seed,
                folds=folds, oof_out=both_oof,
                corpus_weights=numpy.concatenate([numpy.ones(len(y_corpus)), numpy.full(len(pseudo), pseudo_weight(st.weight, len(y_corpus), len(pseudo), weight))]))
            return both, calibrate(both[1], both[0].decision_function(x_posts).tolist())

        teacher = calibrate(alone[1], alone[0].decision_function(x_posts).tolist())
        trained = self_train(teacher, refit, st)
        kept = keep_self_training(alone, alone_oof, trained.model, both_oof, y_user[rows].tolist())
        rounds.append([{**r, "kept": kept} for r in trained.rounds])
        # the posts did not help out-of-fold on the labelled posts: "both" is the labelled model then
        return alone, trained.model if kept else alone

    def scores(model: tuple[Any, dict[str, Any]], rows: Any) -> Any:
        return numpy.asarray(calibrate(model[1], model[0].decision_function(x_user[rows]).tolist()))

    base_scores = numpy.asarray(base.score(list(user.texts)))
    if n >= HOLDOUT_MIN_ROWS:
        method = "holdout"
        train_rows, test_rows = (numpy.asarray(sorted(r)) for r in train_test_split(
            numpy.arange(n), test_size=HOLDOUT_FRACTION, random_state=seed, stratify=y_user))
        weight = user_weight(len(y_corpus), len(train_rows), share)
        say(f"retraining with {len(train_rows):,} of your posts (weight {weight:.0f} each), {len(test_rows):,} held out")
        alone, both = fit(train_rows, weight, CALIBRATION_FOLDS)
        after_alone = scores(alone, test_rows)
        after_both = scores(both, test_rows) if both else None
        evaluated = test_rows
        final = both or alone
    else:
        method = "cross-validation"
        weight = user_weight(len(y_corpus), int(n * 0.8), share)
        after_alone = numpy.zeros(n)
        after_both = numpy.zeros(n) if posts else None
        folds = max(2, min(5, int(min(numpy.bincount(y_user, minlength=2)))))
        say(f"cross-validating over {n} posts in {folds} folds (weight {weight:.0f} each)")
        for number, (train_rows, test_rows) in enumerate(
            StratifiedKFold(folds, shuffle=True, random_state=seed).split(numpy.zeros(n), y_user), 1
        ):
            say(f"fold {number}/{folds}")
            alone, both = fit(train_rows, weight, 3)
            after_alone[test_rows] = scores(alone, test_rows)
            if both is not None and after_both is not None:
                after_both[test_rows] = scores(both, test_rows)
        evaluated = numpy.arange(n)
        weight = user_weight(len(y_corpus), n, share)
        say(f"fitting the adapted model on all {n} posts")
        alone, both = fit(evaluated, weight, 3)
        final = both or alone

    y_eval = y_user[evaluated].tolist()
    before_metrics = bootstrap_metrics(y_eval, base_scores[evaluated].tolist(), seed=seed)
    alone_metrics = bootstrap_metrics(y_eval, after_alone.tolist(), seed=seed)
    after_metrics = bootstrap_metrics(y_eval, after_both.tolist(), seed=seed) if after_both is not None else alone_metrics
    comparison = Comparison(method, int(len(evaluated)), before_metrics, after_metrics, _better(before_metrics, after_metrics),
                            labelled_alone=alone_metrics if posts else None)
    better = comparison.better

    clf, spec = final
    pipeline.steps[-1] = (pipeline.steps[-1][0], clf)
    result = AdaptResult(base=base.reference, comparison=comparison, model=None, user_rows=n, user_weight=weight,
                         calibration=spec, seconds=0.0, forced=force and not better)
    lineage: dict[str, Any] = {}
    if unlabelled is not None:
        result.selftrain = {"params": st.to_dict(), "posts": len(posts), "labelled_overlap": len(unlabelled) - len(posts),
                            "pseudo_labels": rounds[-1]}
        lineage = {"unlabelled": unlabelled.lineage(), "selftrain": st.to_dict(), "pseudo_labels": rounds[-1]}
    if better or force:
        say("registering")
        lineage.update({"user_rows": n, "user_weight": weight})
        result.model = register_adapted(
            pipeline, spec, base, corpus, params, seed, workspace=workspace, name=name or base.name, lineage=lineage,
            labelled=user, extra={"adaptation": comparison.to_dict(),
                                  "metrics": {"rows": comparison.rows, **{k: v["value"] for k, v in after_metrics.items()}}})
    result.seconds = time.perf_counter() - started
    return result


def _better(before: Mapping[str, Mapping[str, Optional[float]]], after: Mapping[str, Mapping[str, Optional[float]]]) -> bool:
    """Higher accuracy, or equal accuracy and lower calibration error."""
    acc_before, acc_after = before["accuracy"]["value"], after["accuracy"]["value"]
    ece_before, ece_after = before["ece"]["value"], after["ece"]["value"]
    assert acc_before is not None and acc_after is not None and ece_before is not None and ece_after is not None
    return bool(acc_after > acc_before or (acc_after == acc_before and ece_after < ece_before))


def _files(dataset: Dataset) -> list[dict[str, Any]]:
    from .train import _portable_path

    return [{"path": _portable_path(f.path), "sha256": f.sha256, "rows": f.rows, "format": f.format} for f in dataset.files]


def register_adapted(pipeline: Any, calibration: Optional[dict[str, Any]], base: SentimentModel, corpus: Dataset,
                     params: dict[str, Any], seed: int, *, workspace: Path, name: str, lineage: Mapping[str, Any],
                     labelled: Optional[Dataset], extra: Mapping[str, Any]) -> SentimentModel:
    """Register an adapted pipeline: its lineage (base, corpus, the user's files) and ``extra`` manifest keys."""
    import platform

    import joblib
    import sklearn

    from .engine.export import export_scorer

    def write_files(directory: Path) -> dict[str, Any]:
        joblib.dump(pipeline, directory / PIPELINE_FILE, compress=3)
        export_scorer(pipeline, directory / SCORER_FILE, calibration=calibration)
        user_files = _files(labelled) if labelled is not None else []
        rows = len(corpus) + (len(labelled) if labelled is not None else 0)
        counts = labelled.counts() if labelled is not None else corpus.counts()
        return {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {"sentikit": __version__, "scikit-learn": sklearn.__version__, "python": platform.python_version()},
            "params": params,
            "seed": seed,
            "calibration": calibration,
            "lineage": {
                "base": {"reference": base.reference, "checksum": base.checksum, "path": str(base.path)},
                "adapted_on": user_files,
                **lineage,
                "corpus": _files(corpus),
            },
            "data": {"files": _files(corpus) + user_files, "rows": rows,
                     "class_counts": {str(k): v for k, v in sorted(counts.items())}},
            **extra,
        }

    return register_model(workspace, name, write_files)
