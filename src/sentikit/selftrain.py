"""Self-training on a team's unlabelled posts: pseudo-labels, refits, and label-free diagnostics.

Recipe (:func:`self_train`, the same code ``bench/quality.py --unlabelled`` measures):

1. A teacher scores the distinct unlabelled posts (:mod:`sentikit.unlabelled` collapses
   near-duplicates): the base model, or, with labelled posts, the model adapted to them.
2. Posts scored at least ``cutoff`` (or at most ``1 - cutoff``) become pseudo-labelled positives
   (negatives). ``balance`` trims the more numerous class so that the pseudo-labels keep the class
   share the teacher sees over *all* the posts (``prior``), half and half (``equal``), or not at
   all (``none``): confident posts are mostly of the easy class, which would tilt the model.
3. The pipeline is refitted on the corpus plus the pseudo-labelled posts, each weighing ``weight``
   corpus rows; with ``rounds`` > 1 the refitted model is the next round's teacher.

Without labels nothing can prove the result better, so :func:`adapt_unlabelled` reports what
changed instead (:class:`Diagnostics`) and registers only when forced. The defaults come from
``bench/quality.py --unlabelled`` (bench/README.md, issue 26).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import DataError, InvalidInputError

if TYPE_CHECKING:  # the CLI reads the defaults below without importing the model stage
    from .data import Dataset
    from .model import SentimentModel
    from .unlabelled import UnlabelledPosts

BALANCES = ("prior", "equal", "none")
MIN_POSTS = 20  # fewer distinct unlabelled posts than this cannot move a model measurably
# Pseudo-labels together never weigh more than this share of the corpus: bench/quality.py measured up
# to 0.4 (1,024 tweets at the default weight); beyond, the teacher's own errors would outweigh the corpus.
MAX_PSEUDO_SHARE = 0.5

ProgressCallback = Callable[[str], None]
Fit = Callable[[Any, Any], tuple[Any, Any]]  # (pseudo rows, pseudo labels) -> (model, its scores of every post)


@dataclass(frozen=True)
class SelfTrainParams:
    """How pseudo-labels are chosen and weighed (defaults measured by bench/quality.py --unlabelled)."""

    cutoff: float = 0.8
    weight: float = 30.0
    rounds: int = 1
    balance: str = "prior"

    def check(self) -> "SelfTrainParams":
        """Itself, or :class:`InvalidInputError` naming the first value out of range."""
        if not 0.5 < self.cutoff < 1.0:
            raise InvalidInputError(f"confidence cut-off must be between 0.5 and 1, got {self.cutoff}")
        if not 0.0 < self.weight <= 100.0:
            raise InvalidInputError(f"pseudo-label weight must be above 0 and at most 100, got {self.weight}")
        if not 1 <= self.rounds <= 10:
            raise InvalidInputError(f"rounds must be from 1 to 10, got {self.rounds}")
        if self.balance not in BALANCES:
            raise InvalidInputError(f"class balance must be one of {', '.join(BALANCES)}, got '{self.balance}'")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pseudo_labels(scores: Any, cutoff: float, balance: str) -> tuple[Any, Any]:
    """Indices of the posts confident enough to pseudo-label, and their 0/1 labels (see the module docstring)."""
    import numpy

    p = numpy.asarray(scores, dtype=float)
    positive = numpy.flatnonzero(p >= cutoff)
    negative = numpy.flatnonzero(p <= 1.0 - cutoff)
    if balance != "none" and len(positive) and len(negative):
        share = 0.5 if balance == "equal" else float(numpy.clip(numpy.mean(p >= 0.5), 0.05, 0.95))
        # most confident first, then keep as many of the larger class as the share allows
        positive = positive[numpy.argsort(-p[positive], kind="stable")]
        negative = negative[numpy.argsort(p[negative], kind="stable")]
        if len(positive) / (len(positive) + len(negative)) > share:
            positive = positive[: max(1, round(len(negative) * share / (1.0 - share)))]
        else:
            negative = negative[: max(1, round(len(positive) * (1.0 - share) / share))]
    rows = numpy.concatenate([positive, negative]).astype(int)
    labels = numpy.concatenate([numpy.ones(len(positive), dtype=int), numpy.zeros(len(negative), dtype=int)])
    order = numpy.argsort(rows, kind="stable")
    return rows[order], labels[order]


@dataclass
class SelfTraining:
    """A self-trained model, its scores of every post, and per round the pseudo-labels it used."""

    model: Any
    scores: Any
    rounds: list[dict[str, int]]


def self_train(teacher_scores: Any, fit: Fit, params: SelfTrainParams) -> SelfTraining:
    """Pseudo-label, refit with ``fit``, repeat ``params.rounds`` times; ``fit`` owns features and weights."""
    import numpy

    scores = numpy.asarray(teacher_scores, dtype=float)
    history: list[dict[str, int]] = []
    model: Any = None
    for _ in range(params.rounds):
        rows, labels = pseudo_labels(scores, params.cutoff, params.balance)
        positives = int(labels.sum())
        history.append({"pseudo_labelled": int(len(rows)), "positive": positives, "negative": int(len(rows) - positives)})
        model, scores = fit(rows, labels)
        scores = numpy.asarray(scores, dtype=float)
    return SelfTraining(model, scores, history)


def pseudo_weight(weight: float, corpus_rows: float, pseudo_rows: int, labelled_weight: float = float("inf")) -> float:
    """A pseudo-label's training weight: ``weight``, but together at most :data:`MAX_PSEUDO_SHARE` of
    the corpus, and never more than a real label's (``labelled_weight``)."""
    return min(weight, MAX_PSEUDO_SHARE * corpus_rows / max(pseudo_rows, 1), labelled_weight)


def weighted_fit(make_classifier: Callable[[], Any], x_corpus: Any, y_corpus: Any, x_posts: Any, weight: float) -> Fit:
    """A :data:`Fit` that refits a classifier on the corpus plus the weighted pseudo-labelled posts."""
    import numpy
    import scipy.sparse

    def fit(rows: Any, labels: Any) -> tuple[Any, Any]:
        x = scipy.sparse.vstack([x_corpus, x_posts[rows]]).tocsr()
        y = numpy.concatenate([y_corpus, labels])
        each = pseudo_weight(weight, x_corpus.shape[0], len(rows))
        w = numpy.concatenate([numpy.ones(x_corpus.shape[0]), numpy.full(len(rows), each)])
        clf = make_classifier().fit(x, y, sample_weight=w)
        return clf, clf.predict_proba(x_posts)[:, 1]

    return fit


@dataclass
class Diagnostics:
    """What adapting changed on the unlabelled posts, measurable without a single label."""

    posts_read: int
    posts_used: int
    duplicates: int
    blank: int
    rounds: list[dict[str, int]]
    positive_before: float  # share of posts the base scores >= 0.5
    positive_after: float
    mean_shift: float  # mean |adapted score - base score|
    moved: float  # share of posts whose score moved by more than 0.1
    agreement: float  # share of posts base and adapted label alike

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(posts: UnlabelledPosts, before: Any, after: Any, rounds: list[dict[str, int]]) -> Diagnostics:
    """:class:`Diagnostics` from the base's and the adapted model's scores of the same posts."""
    import numpy

    b, a = numpy.asarray(before, dtype=float), numpy.asarray(after, dtype=float)
    shift = numpy.abs(a - b)
    return Diagnostics(posts.read, len(posts), posts.duplicates, posts.blank, rounds,
                       float(numpy.mean(b >= 0.5)), float(numpy.mean(a >= 0.5)), float(shift.mean()),
                       float(numpy.mean(shift > 0.1)), float(numpy.mean((a >= 0.5) == (b >= 0.5))))


@dataclass
class UnlabelledResult:
    """What `sentikit adapt --unlabelled` did without labels: diagnostics, and the model when forced."""

    base: str
    diagnostics: Diagnostics
    params: SelfTrainParams
    model: Optional[SentimentModel]
    seconds: float
    lineage: dict[str, Any] = field(default_factory=dict)


def adapt_unlabelled(
    base: SentimentModel,
    posts: UnlabelledPosts,
    corpus: Dataset,
    *,
    workspace: Path,
    name: Optional[str] = None,
    seed: int = 42,
    params: SelfTrainParams = SelfTrainParams(),
    force: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> UnlabelledResult:
    """Self-train ``base`` on unlabelled ``posts`` (module docstring); register only when ``force``."""
    import numpy
    from sklearn.base import clone

    from .adapt import _base_params, _split_features, register_adapted
    from .train import build_pipeline

    say = progress or (lambda message: None)
    params.check()
    if len(posts) < MIN_POSTS:
        raise DataError(f"too few distinct unlabelled posts: {len(posts)} (need at least {MIN_POSTS})")
    started = time.perf_counter()
    model_params = _base_params(base)
    pipeline = build_pipeline(model_params, seed)
    features, classifier = _split_features(pipeline)
    y_corpus = numpy.asarray(corpus.labels)
    say(f"scoring {len(posts):,} posts with {base.reference}")
    before = numpy.asarray(base.score(posts.texts))
    say(f"fitting the features on {len(corpus):,} corpus rows and {len(posts):,} posts")
    try:
        x_all = features.fit_transform(list(corpus.texts) + posts.texts).tocsr()
    except ValueError as exc:
        raise DataError(f"cannot fit the base model's features to this data: {' '.join(str(exc).split())}") from None
    x_corpus, x_posts = x_all[: len(y_corpus)], x_all[len(y_corpus):]
    fit = weighted_fit(lambda: clone(classifier), x_corpus, y_corpus, x_posts, params.weight)

    def counted(rows: Any, labels: Any) -> tuple[Any, Any]:
        say(f"refitting with {len(rows):,} pseudo-labelled posts (weight {pseudo_weight(params.weight, len(y_corpus), len(rows)):.3g} each)")
        return fit(rows, labels)

    trained = self_train(before, counted, params)
    if trained.rounds[-1]["pseudo_labelled"] == 0:
        raise DataError(f"no post is scored beyond the confidence cut-off {params.cutoff:g}: nothing to learn from "
                        "(lower --cutoff)")
    diagnostics = diagnose(posts, before, trained.scores, trained.rounds)
    lineage = {"unlabelled": posts.lineage(), "selftrain": params.to_dict(), "pseudo_labels": trained.rounds}
    result = UnlabelledResult(base.reference, diagnostics, params, None, 0.0, lineage)
    if force:
        say("registering")
        pipeline.steps[-1] = (pipeline.steps[-1][0], trained.model)
        result.model = register_adapted(
            pipeline, None, base, corpus, model_params, seed, workspace=workspace, name=name or base.name,
            lineage=lineage, labelled=None,
            extra={"adaptation": {"method": "self-training", "proof": None, "forced": True,
                                  "diagnostics": diagnostics.to_dict()}, "metrics": {}})
    result.seconds = time.perf_counter() - started
    return result
