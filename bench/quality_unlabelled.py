"""Issue 26's protocol: self-training on a held-out domain's unlabelled posts (`bench/quality.py --unlabelled`).

Per held-out domain and seed: the domain's posts (SST-2: its dev sentences; multi-domain: train +
dev; UCI and tweets: their one file) are shuffled and halved: an *unlabelled* half (labels hidden)
and a *test* half. The base is the LODO fit of `bench/quality.py`'s few-shot curve (the other
sources' train parts, no tweets, SST-2 train capped), features fitted on its rows only: the zero-shot
default. Then, all scored on the test half:

- unlabelled only: `sentikit.selftrain.self_train` with the base as teacher, features refitted on the
  corpus plus the unlabelled half (what `adapt --unlabelled` does), for each parameter set;
- 200 labels alone: 200 posts of the unlabelled half with their labels, `sentikit adapt`'s recipe;
- 200 labels + the rest unlabelled: the labelled-adapted model is the teacher of the rest, then the
  same recipe with the pseudo-labelled posts added to the corpus (what `adapt L --unlabelled U` does).

The corpus here is smaller than the bundled one (SST-2 capped), so a pseudo-label's weight is scaled
by (corpus rows here) / 77,149 (the bundled corpus): pseudo-labels weigh the same share of the
corpus as they would in `sentikit adapt`. The labelled posts' weight is a share already.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

import quality as q

BUNDLED_ROWS = 77_149  # data/README.md
DEFAULT_CANDIDATE = "previous default + social normalisation + lexicon 0.05, tweets never trained on"
LABELS = 200


def configs(grid: bool) -> list[Any]:
    from sentikit.selftrain import SelfTrainParams

    chosen = SelfTrainParams()
    if not grid:  # the default, two more rounds-of-two neighbours, and the measured recipe
        return [chosen, SelfTrainParams(cutoff=0.8, weight=50.0), SelfTrainParams(cutoff=0.7, weight=30.0),
                SelfTrainParams(cutoff=0.8, weight=30.0, balance="none")]
    out = [SelfTrainParams(cutoff=0.9, weight=3.0, rounds=1, balance="none")]  # the measured recipe
    out += [SelfTrainParams(cutoff=c, weight=w, rounds=1, balance="prior") for c in (0.8, 0.9, 0.95) for w in (3.0, 10.0, 30.0)]
    out += [SelfTrainParams(cutoff=0.9, weight=10.0, rounds=2, balance="prior"), SelfTrainParams(cutoff=0.9, weight=10.0, rounds=1, balance="equal"),
            SelfTrainParams(cutoff=0.9, weight=10.0, rounds=1, balance="none")]
    return [chosen] + [c for c in out if c != chosen]


def label(p: Any) -> str:
    return f"cut {p.cutoff:g}, w {p.weight:g}, {p.rounds} round{'s' if p.rounds > 1 else ''}, {p.balance}"


def run(candidate: q.Candidate, blocks: dict[str, Any], labels: np.ndarray, corpus_rows: np.ndarray, posts: np.ndarray,
        seed: int, params: list[Any], with_labels: bool, share: float, folds: int) -> dict[str, Any]:
    """Accuracies on the test half of one domain for one seed: zero-shot, each unlabelled-only set, labelled ones."""
    from sklearn.linear_model import LogisticRegression

    from sentikit.adapt import adapted_classifiers, calibrate, keep_self_training, user_weight
    from sentikit.selftrain import pseudo_weight, self_train, weighted_fit

    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(posts)
    half = len(shuffled) // 2
    unlabelled, test = shuffled[:half], shuffled[half:]
    y_corpus, y_test = labels[corpus_rows], labels[test]
    n_corpus = len(corpus_rows)
    scale = n_corpus / BUNDLED_ROWS

    def make() -> Any:
        return LogisticRegression(C=candidate.C, class_weight=candidate.class_weight, solver="liblinear", max_iter=2000, random_state=42)

    def acc(scores: Any) -> float:
        return q.accuracy(y_test, np.asarray(scores))

    x_c, x_u, x_t = q.features(candidate, blocks, corpus_rows, [unlabelled, test])
    base = make().fit(x_c, y_corpus)
    teacher = base.predict_proba(x_u)[:, 1]
    out: dict[str, Any] = {"zero-shot": acc(base.predict_proba(x_t)[:, 1]), "unlabelled": {}}
    x_all, x_t = q.features(candidate, blocks, np.concatenate([corpus_rows, unlabelled]), [test])
    x_c, x_u = x_all[:n_corpus], x_all[n_corpus:]
    for p in params:
        trained = self_train(teacher, weighted_fit(make, x_c, y_corpus, x_u, p.weight * scale), p)
        out["unlabelled"][label(p)] = (acc(trained.model.predict_proba(x_t)[:, 1]), trained.rounds[-1]["pseudo_labelled"])
    if not with_labels:
        return out
    shots = rng.choice(unlabelled, size=LABELS, replace=False)
    rest = np.setdiff1d(unlabelled, shots)
    weight = user_weight(n_corpus, LABELS, share)
    x_all, x_t = q.features(candidate, blocks, np.concatenate([corpus_rows, shots]), [test])
    clf, spec = adapted_classifiers(x_all[:n_corpus], y_corpus, x_all[n_corpus:], labels[shots], make, weight=weight, folds=folds, seed=seed)
    out["labelled"] = acc(calibrate(spec, clf.decision_function(x_t).tolist()))
    x_all, x_t = q.features(candidate, blocks, np.concatenate([corpus_rows, shots, rest]), [test])
    x_c, x_l, x_r = x_all[:n_corpus], x_all[n_corpus:n_corpus + LABELS], x_all[n_corpus + LABELS:]
    alone_oof: list[float] = []
    both_oof: list[float] = []
    alone = adapted_classifiers(x_c, y_corpus, x_l, labels[shots], make, weight=weight, folds=folds, seed=seed, oof_out=alone_oof)
    teacher = calibrate(alone[1], alone[0].decision_function(x_r).tolist())
    p = params[0]

    def refit(pseudo: Any, pseudo_labels: Any) -> tuple[Any, Any]:
        both = adapted_classifiers(sp.vstack([x_c, x_r[pseudo]]).tocsr(), np.concatenate([y_corpus, pseudo_labels]), x_l, labels[shots], make,
                                   weight=weight, folds=folds, seed=seed, oof_out=both_oof,
                                   corpus_weights=np.concatenate([np.ones(n_corpus), np.full(len(pseudo), pseudo_weight(p.weight * scale, n_corpus, len(pseudo), weight))]))
        return both, calibrate(both[1], both[0].decision_function(x_r).tolist())

    both = self_train(teacher, refit, p).model
    kept = keep_self_training(alone, alone_oof, both, both_oof, labels[shots].tolist())
    clf, spec = both if kept else alone  # what `sentikit adapt L --unlabelled U` registers
    out["both"] = acc(calibrate(spec, clf.decision_function(x_t).tolist()))
    out["kept"] = kept
    return out


def domain_posts(corpus: q.Corpus, domain: str) -> np.ndarray:
    if domain == "sst2":
        return corpus.test["sst2"]  # its train part is mostly sub-sentence phrases, not posts
    return np.union1d(corpus.train[domain], corpus.test[domain])


def protocol(corpus: q.Corpus, domains: list[str], seeds: int, sst2_cap: int, grid: bool, with_labels: bool,
             share: float, folds: int) -> str:
    """Markdown: per domain, mean accuracy over seeds of each arm (and the smallest per-seed gain)."""
    from joblib import Parallel, delayed

    candidate = next(c for c in q.CANDIDATES if c.name == DEFAULT_CANDIDATE)
    blocks = {candidate.word_family: q.counts(corpus, candidate.word_family), candidate.char_family: q.counts(corpus, candidate.char_family),
              f"lexicon{candidate.variant}": q.lexicon_block(corpus, candidate.variant.removeprefix("@"), 5)}
    train = dict(corpus.train)
    if sst2_cap and len(train["sst2"]) > sst2_cap:  # the few-shot curve's subsample (same rng)
        train["sst2"] = np.sort(np.random.default_rng(0).choice(train["sst2"], size=sst2_cap, replace=False))
    params = configs(grid)
    jobs, keys = [], []
    for domain in domains:
        corpus_rows = np.concatenate([train[s] for s in q.SOURCES if s not in (domain, "tweets")])
        for seed in range(seeds):
            jobs.append((corpus_rows, domain_posts(corpus, domain), seed))
            keys.append((domain, seed))
    results = Parallel(n_jobs=2)(delayed(run)(candidate, blocks, corpus.labels, rows, posts, seed, params, with_labels, share, folds)
                                 for rows, posts, seed in jobs)
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for (domain, _), result in zip(keys, results):
        by_domain.setdefault(domain, []).append(result)
    arms = [label(p) for p in params]
    header = ["held-out domain", "zero-shot", *[f"unlabelled: {a}" for a in arms]]
    if with_labels:
        header += [f"{LABELS} labels", f"{LABELS} labels + unlabelled ({arms[0]})"]
    lines = ["| " + " | ".join(header) + " |", "| --- | " + " | ".join(["---:"] * (len(header) - 1)) + " |"]
    means: dict[str, list[float]] = {}
    for domain in domains:
        runs = by_domain[domain]
        zero = np.asarray([r["zero-shot"] for r in runs])
        cells = [f"{zero.mean():.3f}"]
        means.setdefault("zero-shot", []).append(float(zero.mean()))
        for a in arms:
            values = np.asarray([r["unlabelled"][a][0] for r in runs])
            used = np.mean([r["unlabelled"][a][1] for r in runs])
            cells.append(f"{values.mean():.3f} ({(values - zero).mean():+.3f}; {used:.0f} used)")
            means.setdefault(a, []).append(float(values.mean()))
        if with_labels:
            alone = np.asarray([r["labelled"] for r in runs])
            both = np.asarray([r["both"] for r in runs])
            kept = sum(bool(r["kept"]) for r in runs)
            cells += [f"{alone.mean():.3f}", f"{both.mean():.3f} ({(both - alone).mean():+.3f}; kept {kept}/{len(runs)})"]
            means.setdefault("labelled", []).append(float(alone.mean()))
            means.setdefault("both", []).append(float(both.mean()))
        lines.append(f"| {domain} | " + " | ".join(cells) + " |")
    zero_mean = np.mean(means["zero-shot"])
    cells = [f"{zero_mean:.3f}"]
    for a in arms:
        worst = min(v - z for v, z in zip(means[a], means["zero-shot"]))
        cells.append(f"**{np.mean(means[a]):.3f}** ({np.mean(means[a]) - zero_mean:+.3f}; worst domain {worst:+.3f})")
    if with_labels:
        worst = min(b - a for b, a in zip(means["both"], means["labelled"]))
        cells += [f"{np.mean(means['labelled']):.3f}", f"**{np.mean(means['both']):.3f}** ({np.mean(means['both']) - np.mean(means['labelled']):+.3f}; worst domain {worst:+.3f})"]
    lines.append("| **mean** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(args: Any, corpus: q.Corpus, started: float) -> str:
    from sentikit.adapt import USER_SHARE

    share = USER_SHARE if args.share is None else args.share
    domains = args.domains or list(q.SOURCES)
    report = protocol(corpus, domains, args.seeds, args.sst2_cap, args.grid, not args.no_labels, share, args.folds)
    report += (f"\n\nUnlabelled (issue 26): per held-out domain, {args.seeds} seeds of a random half unlabelled / half test; "
               f"mean accuracy on the test half (mean gain over zero-shot; pseudo-labelled posts used, last round). "
               f"Base = LODO fit, SST-2 train capped at {args.sst2_cap:,} rows, no tweets; pseudo-label weights scaled to the bundled corpus; "
               f"{LABELS} labels drawn from the unlabelled half, weighing {share:g} of the corpus, {args.folds}-fold calibration. "
               f"Run {time.perf_counter() - started:.0f}s.")
    return report
