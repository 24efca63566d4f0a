"""The tweets-vs-VADER grid of bench/README.md (issue 12): C, lexicon weight, VADER's compound, char n-grams.

Each configuration ``C,lexicon_weight,compound_weight,char`` (char 0 or 1) is fitted on bench/quality.py's
cached features, never on the tweets. Printed per configuration: the tweets' LODO accuracy, the full fit's
SST-2 dev and multi-domain dev accuracy, and the LODO accuracy of any further held-out domains named.
``compound_weight`` > 0 adds vaderSentiment's compound score (its rules: boosters, caps, "but",
punctuation) as one more feature column; needs vaderSentiment (the test extra).

    .venv/bin/python bench/tweets_grid.py "10,0.05,0,1 1,3,1,0" [DOMAIN ...]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as q  # noqa: E402

Config = tuple[float, float, float, int]


def candidate(char: int, lexicon_weight: float) -> q.Candidate:
    options = dict(q.PREVIOUS) if char else dict(q.WORD)
    return q.Candidate("grid", normalize=q.SOCIAL_STEPS, lexicon_weight=lexicon_weight, train_tweets=False, **options)  # type: ignore[arg-type]


def run(corpus: q.Corpus, blocks: dict[str, Any], compound: np.ndarray, config: Config, held_out: str) -> list[float]:
    """Accuracies on the held-out domain ("full": SST-2 dev, then the multi-domain dev sets)."""
    from sklearn.linear_model import LogisticRegression

    C, lexicon_weight, compound_weight, char = config
    sources = [s for s in q.SOURCES if s != "tweets" and s != held_out]
    train = np.concatenate([corpus.train[s] for s in sources])
    tests = [corpus.test["sst2"], *[corpus.test[d] for d in q.MULTI_DOMAIN]] if held_out == "full" else [corpus.test[held_out]]
    xs = q.features(candidate(char, lexicon_weight), blocks, train, tests)
    if compound_weight:
        xs = [sp.hstack([x, sp.csr_matrix(compound[rows][:, None] * compound_weight)]).tocsr() for x, rows in zip(xs, [train, *tests])]
    clf = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=2000, random_state=42).fit(xs[0], corpus.labels[train])
    return [q.accuracy(corpus.labels[rows], clf.predict_proba(x)[:, 1]) for x, rows in zip(xs[1:], tests)]


def main() -> None:
    from joblib import Parallel, delayed

    configs: list[Config] = []
    for text in sys.argv[1].split():
        c, lexicon_weight, compound_weight, char = text.split(",")
        configs.append((float(c), float(lexicon_weight), float(compound_weight), int(char)))
    targets = ["tweets", "full", *sys.argv[2:]]
    corpus = q.load_corpus()
    compound = q.vader_scores(corpus, np.arange(len(corpus.texts))) * 2 - 1
    blocks: dict[str, Any] = {}
    for _, lexicon_weight, _, char in configs:
        c = candidate(char, lexicon_weight)
        blocks.setdefault(c.word_family, q.counts(corpus, c.word_family))
        if char:
            blocks.setdefault(c.char_family, q.counts(corpus, c.char_family))
        blocks.setdefault(f"lexicon{c.variant}", q.lexicon_block(corpus, "all", 5))
    jobs = [(config, target) for config in configs for target in targets]
    results = Parallel(n_jobs=2)(delayed(run)(corpus, blocks, compound, config, target) for config, target in jobs)
    for (config, target), accuracies in zip(jobs, results):
        extra = f"  multi-domain dev {np.mean(accuracies[1:]):.3f}" if target == "full" else ""
        print(f"C={config[0]:g} lexicon={config[1]:g} compound={config[2]:g} char={config[3]}  {target}: {accuracies[0]:.3f}{extra}")


if __name__ == "__main__":
    main()
