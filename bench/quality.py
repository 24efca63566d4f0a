"""Model quality: candidate pipelines and the VADER lexicon, across domains, in bounded time.

Sources (../shared/datasets): sst2, books, dvd, electronics, kitchen, uci-amazon, uci-imdb,
uci-yelp. Each has a train part (SST-2 and multi-domain train.tsv; a whole UCI file) and a test
part (dev.tsv; the same whole UCI file, which is only ever tested on when held out).

- Leave-one-domain-out (LODO): for each source, fit on the train parts of the other seven and
  report accuracy on the held-out source's test part. "LODO mean" averages the eight.
- Full: fit on every train part (what `sentikit train` does with the bundled corpus) and report
  SST-2 dev accuracy/ROC AUC, multi-domain dev accuracy, and calibration on SST-2 + multi-domain
  dev pooled: Brier score and expected calibration error (ECE, 10 equal-width bins), with a
  reliability table for the chosen model.
- Deployability (not with --quick): `build_pipeline(params).fit` on the bundled corpus, timed,
  then the exported engine's single-text rate on SST-2 dev sentences.

Speed: texts are tokenised once per feature family (word 1-3 grams with scikit-learn's, the rich
or the negation-marking tokens, one family per negation scope; char_wb 2-5 grams) into
count matrices cached in bench/out/; each fold then applies TfidfVectorizer's fit/transform
arithmetic to those counts (min_df on the fold's training rows, smoothed IDF, sublinear or binary TF, l2
per family), which is exactly what fitting the vectoriser on that fold would give, without
re-tokenising. Folds run on 2 processes.

    .venv/bin/python bench/quality.py            # all candidates (~9 min on 2 cores, first run)
    .venv/bin/python bench/quality.py --only NAME ...   # just these candidates (+ VADER)
    .venv/bin/python bench/quality.py --quick    # 3 candidates, no deployability columns
    .venv/bin/python bench/quality.py --unlabelled [--grid] [--no-labels]   # issue 26: self-training

Prints a markdown table and writes it to bench/out/quality.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
# ../shared next to a clone; two levels up from a worktree under wt/
SHARED = next((p / "shared" / "datasets" for p in ROOT.parents if (p / "shared" / "datasets").is_dir()), ROOT.parent / "shared" / "datasets")
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "scripts"))

from make_corpus import read_vader_ground_truth  # noqa: E402
from sentikit.data import load_dataset  # noqa: E402
from sentikit.engine.text import SOCIAL_STEPS  # noqa: E402
from sentikit.train import DEFAULT_PARAMS  # noqa: E402

SOURCES = {
    "sst2": ("sst2/train.tsv", "sst2/dev.tsv"),
    "books": ("multi-domain/books/train.tsv", "multi-domain/books/dev.tsv"),
    "dvd": ("multi-domain/dvd/train.tsv", "multi-domain/dvd/dev.tsv"),
    "electronics": ("multi-domain/electronics/train.tsv", "multi-domain/electronics/dev.tsv"),
    "kitchen": ("multi-domain/kitchen/train.tsv", "multi-domain/kitchen/dev.tsv"),
    "uci-amazon": ("uci-sentences/amazon_cells_labelled.txt", None),
    "uci-imdb": ("uci-sentences/imdb_labelled.txt", None),
    "uci-yelp": ("uci-sentences/yelp_labelled.txt", None),
    "tweets": ("vader-ground-truth/tweets_GroundTruth.txt", None),  # VADER's rated tweets, |rating| >= 0.5
}
MULTI_DOMAIN = ("books", "dvd", "electronics", "kitchen")
SKLEARN_TOKENS = r"(?u)\b\w\w+\b"  # TfidfVectorizer's default: drops "n't", "a", "I", "!"
RICH_TOKENS = r"(?u)\b\w[\w']*\b|[!?]"  # keeps negation clitics ("n't", "don't"), one-letter words, ! and ?


@dataclass
class Corpus:
    """Every text once, labels, and per source the row indices of its train and test parts."""

    texts: list[str]
    labels: np.ndarray
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]


def load_corpus() -> Corpus:
    texts: list[str] = []
    labels: list[int] = []
    train: dict[str, np.ndarray] = {}
    test: dict[str, np.ndarray] = {}
    for source, (train_file, test_file) in SOURCES.items():
        for part, file in (("train", train_file), ("test", test_file)):
            if file is None:
                test[source] = train[source]
                continue
            if "vader-ground-truth" in file:
                pairs = read_vader_ground_truth(SHARED / file)
                new_texts, new_labels = [t for t, _ in pairs], [y for _, y in pairs]
            else:
                data = load_dataset([SHARED / file])
                new_texts, new_labels = data.texts, data.labels
            rows = np.arange(len(texts), len(texts) + len(new_texts))
            texts += new_texts
            labels += new_labels
            (train if part == "train" else test)[source] = rows
    return Corpus(texts, np.asarray(labels), train, test)


@dataclass
class Candidate:
    """A pipeline to compare: feature families with their options, and the classifier's."""

    name: str
    word_max: int = 2
    word_min_df: int = 2
    char: Optional[tuple[int, int]] = None
    char_min_df: int = 3
    char_binary: bool = False  # char n-grams by presence (TfidfVectorizer(binary=True))
    sublinear: bool = True
    C: float = 4.0
    class_weight: Optional[str] = None
    nb: bool = False  # NB-SVM style: scale features by the log-count ratio r before the LR
    token_pattern: str = SKLEARN_TOKENS
    negation_scope: int = 0  # > 0: sentikit.engine.text.NegationTokenizer(scope) instead of token_pattern
    normalize: Optional[tuple[str, ...]] = None  # sentikit.engine.text.SocialNormalizer steps; None = off
    lexicon_weight: float = 0.0  # > 0: the lexicon prior's 3 features, with this FeatureUnion weight
    train_tweets: bool = True  # False: the tweets are never trained on (measures what they add)

    @property
    def variant(self) -> str:
        """Cache-name suffix of the normalisation: '' (off), '@all', or '@no-<steps left out>'."""
        if self.normalize is None:
            return ""
        left_out = [s for s in SOCIAL_STEPS if s not in self.normalize]
        return "@all" if not left_out else "@no-" + "-".join(left_out)

    @property
    def word_family(self) -> str:
        """Name of the cached word count matrix this candidate's word n-grams come from."""
        if self.negation_scope > 0:
            return f"word-neg{self.negation_scope}{self.variant}"
        return ("word" if self.token_pattern == SKLEARN_TOKENS else "word-rich") + self.variant

    @property
    def char_family(self) -> str:
        return "char" + self.variant

    def train_params(self) -> dict[str, Any]:
        return {
            **DEFAULT_PARAMS,
            "word_ngram_max": self.word_max,
            "word_min_df": self.word_min_df,
            "char_ngrams": list(self.char) if self.char else None,
            "char_min_df": self.char_min_df,
            "char_binary": self.char_binary,
            "sublinear_tf": self.sublinear,
            "C": self.C,
            "class_weight": self.class_weight,
            "token_pattern": self.token_pattern,
            "nb_weighting": self.nb,
            "negation_scope": self.negation_scope,
            "normalize": list(self.normalize) if self.normalize is not None else None,
            "lexicon_weight": self.lexicon_weight,
        }


def _without(*steps: str) -> tuple[str, ...]:
    return tuple(s for s in SOCIAL_STEPS if s not in steps)


PREVIOUS = dict(C=10.0, class_weight="balanced", negation_scope=5, char=(2, 4), char_binary=True, char_min_df=50)
WORD = dict(C=10.0, class_weight="balanced", negation_scope=5)
CANDIDATES = [
    Candidate("previous default: negation 5, word 1-2 + binary char_wb 2-4 (min_df 50), C=10, balanced", **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default, tweets never trained on", train_tweets=False, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation", normalize=SOCIAL_STEPS, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + lexicon 1", lexicon_weight=1.0, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 1", normalize=SOCIAL_STEPS, lexicon_weight=1.0, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 3", normalize=SOCIAL_STEPS, lexicon_weight=3.0, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 3, tweets never trained on", normalize=SOCIAL_STEPS, lexicon_weight=3.0, train_tweets=False, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 0.05, tweets never trained on", normalize=SOCIAL_STEPS, lexicon_weight=0.05, train_tweets=False, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 0.02, tweets never trained on", normalize=SOCIAL_STEPS, lexicon_weight=0.02, train_tweets=False, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation, tweets never trained on", normalize=SOCIAL_STEPS, train_tweets=False, **PREVIOUS),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 0.05, tweets never trained on, C=7.0", normalize=SOCIAL_STEPS, lexicon_weight=0.05, train_tweets=False, **{**PREVIOUS, "C": 7.0}),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 0.05, tweets never trained on, C=14.0", normalize=SOCIAL_STEPS, lexicon_weight=0.05, train_tweets=False, **{**PREVIOUS, "C": 14.0}),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 0.1, tweets never trained on, C=10.0", normalize=SOCIAL_STEPS, lexicon_weight=0.1, train_tweets=False, **{**PREVIOUS, "C": 10.0}),  # type: ignore[arg-type]
    Candidate("previous default + social normalisation + lexicon 0.1, tweets never trained on, C=7.0", normalize=SOCIAL_STEPS, lexicon_weight=0.1, train_tweets=False, **{**PREVIOUS, "C": 7.0}),  # type: ignore[arg-type]
    # issue 17: fewer word n-grams load and score faster; what do they cost?
    *[
        Candidate(f"previous default + social normalisation + lexicon 0.05, tweets never trained on, word min_df {df}",
                  normalize=SOCIAL_STEPS, lexicon_weight=0.05, train_tweets=False, **{**PREVIOUS, "word_min_df": df})  # type: ignore[arg-type]
        for df in (3, 5, 10)
    ],
    Candidate("previous default + social normalisation + lexicon 0.05, C=7 (tweets in the corpus)", normalize=SOCIAL_STEPS, lexicon_weight=0.05, **{**PREVIOUS, "C": 7.0}),  # type: ignore[arg-type]
    # per-step ablation of the normalisation on the word-only model (cheap to tokenise)
    Candidate("word 1-2 (negation 5)", **WORD),  # type: ignore[arg-type]
    Candidate("word 1-2 + social normalisation", normalize=SOCIAL_STEPS, **WORD),  # type: ignore[arg-type]
    *[
        Candidate(f"word 1-2 + social normalisation without {'/'.join(group)}", normalize=_without(*group), **WORD)  # type: ignore[arg-type]
        for group in (("entities",), ("urls", "mentions"), ("hashtags",), ("emoji", "emoticons"), ("elongation",), ("punctuation",))
    ],
    Candidate("word 1-2 + social normalisation + lexicon 1", normalize=SOCIAL_STEPS, lexicon_weight=1.0, **WORD),  # type: ignore[arg-type]
    Candidate("word 1-2 + social normalisation + lexicon 3", normalize=SOCIAL_STEPS, lexicon_weight=3.0, **WORD),  # type: ignore[arg-type]
]
CHOSEN = "previous default + social normalisation + lexicon 3"
QUICK = [CANDIDATES[0].name, CHOSEN]


# --- features -------------------------------------------------------------------------------


def counts(corpus: Corpus, family: str) -> tuple[sp.csr_matrix, np.ndarray]:
    """Count matrix over every text for a feature family, and each column's n-gram length; cached.

    Families: "word" (scikit-learn's tokens), "word-rich" (RICH_TOKENS), "word-neg<N>"
    (NegationTokenizer(N)), all word 1-3 grams; "char" (char_wb 2-5 grams). A suffix
    "@<variant>" preprocesses with that SocialNormalizer variant (see Candidate.variant).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    OUT.mkdir(parents=True, exist_ok=True)
    matrix_path, lengths_path = OUT / f"quality-{family}.npz", OUT / f"quality-{family}-lengths.npy"
    if matrix_path.exists() and lengths_path.exists():
        return sp.load_npz(matrix_path).tocsr(), np.load(lengths_path)
    started = time.perf_counter()
    base, _, variant = family.partition("@")
    extra: dict[str, Any] = {"preprocessor": normalizer(variant)} if variant else {}
    if base.startswith("word-neg"):
        from sentikit.engine.text import NegationTokenizer

        tokenizer = NegationTokenizer(int(base.removeprefix("word-neg")))
        vectorizer = CountVectorizer(tokenizer=tokenizer, token_pattern=None, lowercase=True, ngram_range=(1, 2), strip_accents="unicode", dtype=np.int32, **extra)
    elif base.startswith("word"):
        token_pattern = RICH_TOKENS if base == "word-rich" else SKLEARN_TOKENS
        vectorizer = CountVectorizer(ngram_range=(1, 2), strip_accents="unicode", token_pattern=token_pattern, dtype=np.int32, **extra)
    else:
        vectorizer = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4), strip_accents="unicode", dtype=np.int32, **extra)
    matrix = vectorizer.fit_transform(corpus.texts).tocsr()
    names = vectorizer.get_feature_names_out()
    lengths = np.fromiter(((n.count(" ") + 1) if family.startswith("word") else len(n) for n in names), dtype=np.int16, count=len(names))
    sp.save_npz(matrix_path, matrix)
    np.save(lengths_path, lengths)
    print(f"tokenised {family}: {matrix.shape[1]:,} n-grams in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return matrix, lengths


def normalizer(variant: str) -> Any:
    """The SocialNormalizer of a cache-name variant ('all' or 'no-<step>-<step>')."""
    from sentikit.engine.text import SocialNormalizer

    left_out = set() if variant == "all" else set(variant.removeprefix("no-").split("-"))
    return SocialNormalizer([s for s in SOCIAL_STEPS if s not in left_out], lowercase=True, strip_accents="unicode")


def lexicon_block(corpus: Corpus, variant: str, scope: int) -> np.ndarray:
    """The lexicon prior's three features for every text (sentikit.engine.features.LexiconFeatures); cached."""
    from sentikit.engine.features import LexiconFeatures

    path = OUT / f"quality-lexicon{scope}@{variant or 'none'}.npy"
    if path.exists():
        return np.load(path)
    features = LexiconFeatures(normalizer(variant) if variant else None, scope).fit(corpus.texts[:1])
    block = features.transform(corpus.texts).toarray()
    np.save(path, block)
    return block


def tfidf(train: sp.csr_matrix, others: list[sp.csr_matrix], min_df: int, sublinear: bool, binary: bool = False) -> list[sp.csr_matrix]:
    """TfidfVectorizer(min_df, smooth_idf, sublinear_tf, binary, norm='l2') fitted on ``train``'s rows."""
    from sklearn.preprocessing import normalize

    df = np.bincount(train.indices, minlength=train.shape[1])
    keep = np.flatnonzero(df >= min_df)
    idf = np.log((1 + train.shape[0]) / (1 + df[keep])) + 1.0
    out = []
    for matrix in [train, *others]:
        x = matrix[:, keep].astype(np.float64)
        if binary:
            x.data[:] = 1.0
        elif sublinear:
            np.log(x.data, out=x.data)
            x.data += 1.0
        x = x.multiply(idf).tocsr()
        out.append(normalize(x, norm="l2", copy=False))
    return out


def features(candidate: Candidate, blocks: dict[str, tuple[sp.csr_matrix, np.ndarray]], train_rows: np.ndarray, test_rows: list[np.ndarray]) -> list[sp.csr_matrix]:
    parts = []
    word, word_len = blocks[candidate.word_family]
    columns = np.flatnonzero(word_len <= candidate.word_max)
    w = word[:, columns]
    parts.append(tfidf(w[train_rows], [w[r] for r in test_rows], candidate.word_min_df, candidate.sublinear))
    if candidate.char:
        char, char_len = blocks[candidate.char_family]
        columns = np.flatnonzero((char_len >= candidate.char[0]) & (char_len <= candidate.char[1]))
        c = char[:, columns]
        parts.append(tfidf(c[train_rows], [c[r] for r in test_rows], candidate.char_min_df, candidate.sublinear, candidate.char_binary))
    if candidate.lexicon_weight:
        lexicon = blocks[f"lexicon{candidate.variant}"] * candidate.lexicon_weight
        parts.append([sp.csr_matrix(lexicon[r]) for r in [train_rows, *test_rows]])
    return [sp.hstack([p[i] for p in parts]).tocsr() for i in range(len(test_rows) + 1)]


def fit_predict(candidate: Candidate, blocks: dict[str, Any], labels: np.ndarray, train_rows: np.ndarray, test_rows: list[np.ndarray]) -> list[np.ndarray]:
    """Fit the candidate on ``train_rows``; probabilities of positive for each ``test_rows``."""
    from sklearn.linear_model import LogisticRegression

    x_train, *x_tests = features(candidate, blocks, train_rows, test_rows)
    y = labels[train_rows]
    if candidate.nb:
        binary = (x_train > 0).astype(np.float64)
        p = 1.0 + np.asarray(binary[y == 1].sum(axis=0)).ravel()
        q = 1.0 + np.asarray(binary[y == 0].sum(axis=0)).ravel()
        r = np.log((p / p.sum()) / (q / q.sum()))
        x_train, x_tests = x_train.multiply(r).tocsr(), [x.multiply(r).tocsr() for x in x_tests]
    clf = LogisticRegression(C=candidate.C, class_weight=candidate.class_weight, solver="liblinear", max_iter=2000, random_state=42)
    clf.fit(x_train, y)
    return [clf.predict_proba(x)[:, 1] for x in x_tests]


# --- metrics -------------------------------------------------------------------------------------


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    return float(np.mean((p >= threshold) == (y == 1)))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[float, list[tuple[str, int, float, float]]]:
    """Expected calibration error and per-bin (range, count, mean predicted, observed positive rate)."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece, table = 0.0, []
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
            table.append((f"{edges[b]:.1f}-{edges[b + 1]:.1f}", int(mask.sum()), float(p[mask].mean()), float(y[mask].mean())))
    return float(ece), table


def vader_scores(corpus: Corpus, rows: np.ndarray) -> np.ndarray:
    """VADER compound scores mapped to 0-1, cached."""
    cache = OUT / "quality-vader.json"
    known: dict[str, float] = json.loads(cache.read_text()) if cache.exists() else {}
    missing = [int(i) for i in rows if str(int(i)) not in known]
    if missing:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        for i in missing:
            known[str(i)] = analyzer.polarity_scores(corpus.texts[i])["compound"]
        cache.write_text(json.dumps(known))
    return np.asarray([(known[str(int(i))] + 1.0) / 2.0 for i in rows])


# --- deployability ---------------------------------------------------------------------------


def deployability(params: dict[str, Any], singles: list[str]) -> tuple[float, float, float]:
    """(seconds to fit on the bundled corpus, engine single texts/s, sklearn single texts/s)."""
    import tempfile

    from sentikit.engine import load_scorer
    from sentikit.engine.export import export_scorer
    from sentikit.train import build_pipeline

    corpus = load_dataset([ROOT / "data" / "corpus.tsv.gz"])
    started = time.perf_counter()
    pipeline = build_pipeline(params, seed=42).fit(corpus.texts, np.asarray(corpus.labels))
    fit_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        export_scorer(pipeline, Path(tmp) / "scorer")
        scorer = load_scorer(Path(tmp) / "scorer")
    rates = []
    for score in (scorer.score, pipeline.predict_proba):
        best = math.inf
        for _ in range(2):
            started = time.perf_counter()
            for text in singles:
                score([text])
            best = min(best, time.perf_counter() - started)
        rates.append(len(singles) / best)
    return fit_seconds, rates[0], rates[1]


# --- the run ---------------------------------------------------------------------------------------


def evaluate(candidate: Candidate, corpus: Corpus, blocks: dict[str, Any]) -> dict[str, Any]:
    from joblib import Parallel, delayed

    sources = list(SOURCES)
    jobs = []
    trained = [s for s in sources if candidate.train_tweets or s != "tweets"]
    for held_out in sources:
        train_rows = np.concatenate([corpus.train[s] for s in trained if s != held_out])
        jobs.append((train_rows, [corpus.test[held_out]]))
    full_train = np.concatenate([corpus.train[s] for s in trained])
    full_tests = [corpus.test["sst2"], *[corpus.test[d] for d in MULTI_DOMAIN]]
    jobs.append((full_train, full_tests))
    results = Parallel(n_jobs=2)(delayed(fit_predict)(candidate, blocks, corpus.labels, tr, te) for tr, te in jobs)
    row: dict[str, Any] = {"lodo": {}}
    for held_out, (p,) in zip(sources, results[:-1]):
        row["lodo"][held_out] = accuracy(corpus.labels[corpus.test[held_out]], p)
    full = results[-1]
    y_sst2 = corpus.labels[corpus.test["sst2"]]
    row["sst2_acc"], row["sst2_auc"] = accuracy(y_sst2, full[0]), auc(y_sst2, full[0])
    row["md_acc"] = float(np.mean([accuracy(corpus.labels[corpus.test[d]], p) for d, p in zip(MULTI_DOMAIN, full[1:])]))
    pooled_y = np.concatenate([corpus.labels[r] for r in full_tests])
    pooled_p = np.concatenate(full)
    row["brier"] = float(np.mean((pooled_p - pooled_y) ** 2))
    row["ece"], row["reliability"] = reliability(pooled_y, pooled_p)
    return row


def vader_row(corpus: Corpus) -> dict[str, Any]:
    row: dict[str, Any] = {"lodo": {}}
    for source in SOURCES:
        rows = corpus.test[source]
        # VADER's documented rule: compound >= 0.05 is positive; everything else counts as negative here
        row["lodo"][source] = accuracy(corpus.labels[rows], vader_scores(corpus, rows), threshold=0.525)
    full_tests = [corpus.test["sst2"], *[corpus.test[d] for d in MULTI_DOMAIN]]
    y_sst2, p_sst2 = corpus.labels[corpus.test["sst2"]], vader_scores(corpus, corpus.test["sst2"])
    row["sst2_acc"], row["sst2_auc"] = accuracy(y_sst2, p_sst2, 0.525), auc(y_sst2, p_sst2)
    row["md_acc"] = float(np.mean([row["lodo"][d] for d in MULTI_DOMAIN]))
    pooled_y = np.concatenate([corpus.labels[r] for r in full_tests])
    pooled_p = np.concatenate([vader_scores(corpus, r) for r in full_tests])
    row["brier"] = float(np.mean((pooled_p - pooled_y) ** 2))
    row["ece"], row["reliability"] = reliability(pooled_y, pooled_p)
    return row


# --- few-shot curve: adapt to a held-out domain with K of its labelled rows ---------------------------


def few_shot_run(candidate: Candidate, blocks: dict[str, Any], labels: np.ndarray, train_rows: np.ndarray,
                 pool: np.ndarray, test: np.ndarray, k: int, seed: int, folds: int, share: float) -> tuple[float, float]:
    """(accuracy of the base, accuracy after `sentikit adapt`'s recipe with K pool rows) on ``test`` minus those rows."""
    from sklearn.linear_model import LogisticRegression

    from sentikit.adapt import adapted_classifiers, calibrate, user_weight

    rng = np.random.default_rng(seed)
    shots = rng.choice(pool, size=k, replace=False) if k else np.asarray([], dtype=int)
    rest = np.setdiff1d(test, shots)
    rows = np.concatenate([train_rows, shots]).astype(int)
    x_train, x_rest = features(candidate, blocks, rows, [rest])
    n_corpus = len(train_rows)

    def make() -> Any:
        return LogisticRegression(C=candidate.C, class_weight=candidate.class_weight, solver="liblinear", max_iter=2000, random_state=42)

    base = make().fit(x_train[:n_corpus], labels[train_rows])
    base_acc = accuracy(labels[rest], base.predict_proba(x_rest)[:, 1])
    if not k:
        return base_acc, base_acc
    clf, spec = adapted_classifiers(x_train[:n_corpus], labels[train_rows], x_train[n_corpus:], labels[shots], make,
                                    weight=user_weight(n_corpus, k, share), folds=folds, seed=seed)
    adapted = np.asarray(calibrate(spec, clf.decision_function(x_rest).tolist()))
    return base_acc, accuracy(labels[rest], adapted)


def few_shot(candidate: Candidate, corpus: Corpus, blocks: dict[str, Any], ks: list[int], seeds: int, sst2_cap: int,
             folds: int, domains: list[str], share: float) -> str:
    """Markdown table: per held-out domain and K, accuracy on the rest of the domain (mean over seeds, smallest gain over the default)."""
    from joblib import Parallel, delayed

    rng = np.random.default_rng(0)
    sources = [s for s in SOURCES if candidate.train_tweets or s != "tweets"]
    train = dict(corpus.train)
    if sst2_cap and len(train["sst2"]) > sst2_cap:  # keeps the folds fast; the same subsample for every run
        train["sst2"] = np.sort(rng.choice(train["sst2"], size=sst2_cap, replace=False))
    jobs, keys = [], []
    for held_out in domains:
        train_rows = np.concatenate([train[s] for s in sources if s != held_out])
        # SST-2's train part is mostly sub-sentence phrases ("a movie"), unlike the sentences a user labels;
        # its K rows come from the dev sentences, like UCI's and the tweets' come from their one file
        pool = corpus.test[held_out] if held_out == "sst2" else corpus.train[held_out]
        test = corpus.test[held_out]
        for k in ks:
            if k > len(pool) or (k and len(np.setdiff1d(test, pool)) == 0 and len(test) - k < 100):
                continue
            for seed in range(seeds if k else 1):
                jobs.append((train_rows, pool, test, k, seed))
                keys.append((held_out, k, seed))
    results = Parallel(n_jobs=2)(delayed(few_shot_run)(candidate, blocks, corpus.labels, *job, folds, share) for job in jobs)
    table: dict[tuple[str, int], list[float]] = {}
    gains: dict[tuple[str, int], list[float]] = {}  # adapted minus the default on the same rows, per seed
    for (domain, k, _), (base, adapted) in zip(keys, results):
        table.setdefault((domain, k), []).append(adapted)
        gains.setdefault((domain, k), []).append(adapted - base)
    lines = ["| held-out domain | " + " | ".join(f"K={k}" for k in ks) + " |", "| --- | " + " | ".join(["---:"] * len(ks)) + " |"]
    for domain in domains:
        cells = []
        for k in ks:
            values = table.get((domain, k))
            if not values:
                cells.append("")
            elif k == 0:
                cells.append(f"{values[0]:.3f}")
            else:
                gain = gains[(domain, k)]
                mark = "" if min(gain) > 0 else " ✗"
                cells.append(f"{np.mean(values):.3f} ({min(gain):+.3f}){mark}")
        lines.append(f"| {domain} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only: {', '.join(QUICK)}; no deployability columns")
    parser.add_argument("--only", nargs="*", help="candidate names to run")
    parser.add_argument("--no-deploy", action="store_true", help="skip the train s / engine columns")
    parser.add_argument("--reliability", default=CHOSEN, help="candidate whose reliability table to print")
    parser.add_argument("--few-shot", metavar="NAME", help="only the few-shot curve of this candidate (adapt with K rows of each held-out domain)")
    parser.add_argument("--k", type=int, nargs="*", default=[0, 50, 100, 200, 500], help="few-shot sizes")
    parser.add_argument("--seeds", type=int, default=3, help="few-shot: seeds (samples of K rows) per size")
    parser.add_argument("--sst2-cap", type=int, default=5000, help="few-shot: SST-2 train rows kept (0 = all 67k)")
    parser.add_argument("--folds", type=int, default=3, help="few-shot: calibration folds (sentikit adapt uses 5)")
    parser.add_argument("--domains", nargs="*", default=None, help="few-shot: held-out domains (default: all)")
    parser.add_argument("--share", type=float, default=None, help="few-shot: weight of the K rows as a share of the corpus (default: sentikit adapt's)")
    parser.add_argument("--unlabelled", action="store_true", help="issue 26: self-training on each held-out domain's unlabelled half (bench/quality_unlabelled.py)")
    parser.add_argument("--grid", action="store_true", help="unlabelled: every parameter set, not only the defaults")
    parser.add_argument("--no-labels", action="store_true", help="unlabelled: skip the 200-label arms")
    args = parser.parse_args()
    started = time.perf_counter()
    corpus = load_corpus()
    if args.unlabelled:
        import quality_unlabelled

        report = quality_unlabelled.main(args, corpus, started)
        print(report)
        (OUT / "unlabelled.md").write_text(report + "\n", encoding="utf-8")
        return
    if args.few_shot:
        chosen = next((c for c in CANDIDATES if c.name == args.few_shot), None)
        if chosen is None:
            raise SystemExit(f"no candidate named {args.few_shot!r}")
        blocks = {chosen.word_family: counts(corpus, chosen.word_family)}
        if chosen.char:
            blocks[chosen.char_family] = counts(corpus, chosen.char_family)
        if chosen.lexicon_weight:
            blocks[f"lexicon{chosen.variant}"] = lexicon_block(corpus, chosen.variant.removeprefix("@"), 5)
        from sentikit.adapt import USER_SHARE

        share = USER_SHARE if args.share is None else args.share
        report = few_shot(chosen, corpus, blocks, args.k, args.seeds, args.sst2_cap, args.folds, args.domains or list(SOURCES), share)
        report += (f"\n\nFew-shot: '{chosen.name}'; base = LODO fit (SST-2 train capped at {args.sst2_cap:,} rows); K rows drawn from the "
                   f"held-out domain's train part (its only file for UCI/tweets), accuracy on its test part minus those rows; "
                   f"{args.seeds} seeds: mean accuracy (smallest gain over the default on the same rows); ✗ = some seed not above the default. "
                   f"{args.folds}-fold calibration; the K rows weigh {share:g} of the corpus. "
                   f"Run {time.perf_counter() - started:.0f}s.")
        print(report)
        (OUT / "few-shot.md").write_text(report + "\n", encoding="utf-8")
        return
    candidates = [c for c in CANDIDATES if (not args.quick or c.name in QUICK) and (not args.only or c.name in args.only)]
    blocks: dict[str, Any] = {family: counts(corpus, family) for family in dict.fromkeys(c.word_family for c in candidates)}
    for family in dict.fromkeys(c.char_family for c in candidates if c.char):
        blocks[family] = counts(corpus, family)
    for variant in dict.fromkeys(c.variant for c in candidates if c.lexicon_weight):
        blocks[f"lexicon{variant}"] = lexicon_block(corpus, variant.removeprefix("@"), 5)
    singles = corpus.texts[corpus.test["sst2"][0] : corpus.test["sst2"][0] + 300]

    rows: dict[str, dict[str, Any]] = {}
    try:
        rows["VADER (compound >= 0.05)"] = vader_row(corpus)
    except ImportError:
        print("vaderSentiment is not installed (pip install -e '.[test]'): no VADER row", file=sys.stderr)
    for candidate in candidates:
        t0 = time.perf_counter()
        rows[candidate.name] = evaluate(candidate, corpus, blocks)
        params = candidate.train_params()
        if not args.quick and not args.no_deploy:
            rows[candidate.name]["deploy"] = deployability(params, singles)
        lodo = rows[candidate.name]["lodo"]
        print(f"{candidate.name}: {time.perf_counter() - t0:.0f}s; LODO mean {np.mean(list(lodo.values())):.3f} "
              + " ".join(f"{k}={v:.3f}" for k, v in lodo.items()) + f"; SST-2 dev {rows[candidate.name]['sst2_acc']:.3f}",
              file=sys.stderr)

    sources = list(SOURCES)
    header = ["model", *sources, "LODO mean", "mean w/o tweets", "SST-2 dev acc", "SST-2 dev AUC", "MD dev acc", "Brier", "ECE", "train s", "engine 1-text/s", "× sklearn"]
    lines = ["| " + " | ".join(header) + " |", "| --- | " + " | ".join(["---:"] * (len(header) - 1)) + " |"]
    vader = rows.get("VADER (compound >= 0.05)")
    for name, row in rows.items():
        lodo = [row["lodo"][s] for s in sources]
        cells = []
        for s, value in zip(sources, lodo):
            beaten = vader is not None and name != "VADER (compound >= 0.05)" and value <= vader["lodo"][s]
            cells.append(f"{value:.3f}{' ✗' if beaten else ''}")
        deploy = row.get("deploy")
        cells += [f"{np.mean(lodo):.3f}", f"{np.mean([row['lodo'][s] for s in sources if s != 'tweets']):.3f}", f"{row['sst2_acc']:.3f}", f"{row['sst2_auc']:.3f}", f"{row['md_acc']:.3f}", f"{row['brier']:.3f}", f"{row['ece']:.3f}"]
        cells += [f"{deploy[0]:.0f}", f"{deploy[1]:,.0f}", f"{deploy[1] / deploy[2]:.0f}"] if deploy else ["", "", ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    chosen = args.reliability
    if chosen in rows:
        lines += ["", f"Reliability of '{chosen}' (full fit; SST-2 dev + multi-domain dev pooled):", "",
                  "| predicted | texts | mean predicted | observed positive |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {r} | {n} | {m:.3f} | {o:.3f} |" for r, n, m, o in rows[chosen]["reliability"]]
    lines += ["", f"LODO: train on the other sources' train parts, accuracy on the held-out source's test part; ✗ = not better than VADER. "
              f"train s / engine rates: fit on data/corpus.tsv.gz and single-text scoring of 300 SST-2 dev sentences on this machine. "
              f"Total run {time.perf_counter() - started:.0f}s."]
    report = "\n".join(lines)
    print(report)
    (OUT / "quality.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
