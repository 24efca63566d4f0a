"""The scoring engine reproduces scikit-learn's predict_proba exactly, explains exactly, and needs no sklearn."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from sentikit.data import load_dataset
from sentikit.engine import MAGIC, Scorer, UnsupportedPipelineError, load_scorer
from sentikit.engine.export import export_scorer
from sentikit.errors import ModelIntegrityError
from sentikit.model import SCORER_FILE, load_model
from sentikit.train import DEFAULT_PARAMS, build_pipeline

from _datasets import SHARED_DATASETS as SHARED
from _datasets import corpus_rows, needs_shared

EDGE_CASES = [
    "",
    "   \t\n ",
    "!!! ??? ...",
    "a",
    "I",
    "😀😀 great 👍",
    "Café déjà vu, naïve résumé, Ångström, façade",
    "ΟΔΟΣ ΣΟΦΟΣ Σ",
    "ﬁne ｆｕｌｌｗｉｄｔｈ ①②",
    "İstanbul straße ǅ",
    "tab\tnew\nline  double   spaces\u00a0nbsp\u2003em",
    "\x1c\x1dcontrol\x1e chars",
    "ゲームが好き 游戏 게임",
    "combining e\u0301 and \u0301leading mark",
    "good good good good bad bad not not not good",
    "x" * 20_000,
    " ".join(["great movie but terrible ending"] * 3_000),
    # social-media text: mentions, URLs, hashtags, entities, emoji with skin tones and ZWJ, emoticons
    "@united Sooooo bad!!!! #NeverAgain #fail http://t.co/xyz &amp; more :) :( <3 </3 XD :-D :P",
    "Loved it 😂😂👍🏽 www.example.com/path?q=1 &lt;3 &quot;best&quot; #BestDayEver",
    "@a@b #123 # #_x &#128512; &notanentity; 👨‍👩‍👧 ❤️ ☺️ not :( never :)",
    "NOT_good xxurl xxuser lexicon:bad",
]


def dev_texts() -> list[str]:
    files = [SHARED / "sst2" / "dev.tsv", *sorted(SHARED.glob("multi-domain/*/dev.tsv"))]
    files += sorted(SHARED.glob("uci-sentences/*_labelled.txt"))
    return [text for path in files for text in load_dataset([path]).texts]


@pytest.fixture(scope="module")
def training() -> tuple[list[str], list[int]]:
    """~2,700 real rows: enough vocabulary to exercise every code path, fast to fit."""
    rows = corpus_rows("kitchen") + corpus_rows("uci-yelp")
    return [text for text, _ in rows], [label for _, label in rows]


def tfidf(**kwargs: Any) -> TfidfVectorizer:
    return TfidfVectorizer(dtype=numpy.float64, **kwargs)


PIPELINES = {
    "default": lambda: build_pipeline(DEFAULT_PARAMS, seed=1),
    "default with NB weighting": lambda: build_pipeline({**DEFAULT_PARAMS, "nb_weighting": True}, seed=1),
    "NB + word+char_wb": lambda: build_pipeline({**DEFAULT_PARAMS, "nb_weighting": True, "char_ngrams": [2, 4]}, seed=1),
    "word+char_wb": lambda: build_pipeline(
        {**DEFAULT_PARAMS, "nb_weighting": False, "negation_scope": 0, "char_ngrams": [2, 5], "word_ngram_max": 3, "token_pattern": r"(?u)\b\w\w+\b"}, seed=1
    ),
    "variants": lambda: Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("word", tfidf(ngram_range=(2, 3), strip_accents="ascii", binary=True, norm="l1", stop_words="english")),
                        ("char", tfidf(analyzer="char", ngram_range=(1, 3), lowercase=False, use_idf=False, min_df=2)),
                        ("wb", tfidf(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, norm=None, smooth_idf=False)),
                    ],
                    transformer_weights={"word": 0.5, "char": 2.0},
                ),
            ),
            ("clf", LogisticRegression(C=10.0, max_iter=500)),
        ]
    ),
    "binary char_wb, l1 and no norm": lambda: Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("wb", tfidf(analyzer="char_wb", ngram_range=(2, 4), binary=True, norm="l1", min_df=3)),
                        ("wb-raw", tfidf(analyzer="char_wb", ngram_range=(1, 3), binary=True, norm=None, use_idf=False)),
                    ],
                    transformer_weights={"wb-raw": 0.1},
                ),
            ),
            ("clf", LogisticRegression(C=10.0, max_iter=500)),
        ]
    ),
    "social + lexicon": lambda: build_pipeline({**DEFAULT_PARAMS, "lexicon_weight": 3.0}, seed=1),
    "lexicon without normalisation": lambda: build_pipeline({**DEFAULT_PARAMS, "normalize": None, "lexicon_weight": 1.0, "char_ngrams": None}, seed=1),
    "bare vectorizer": lambda: Pipeline(
        [("features", tfidf(token_pattern=r"(?u)\b(\w+)\b", ngram_range=(1, 2))), ("clf", LogisticRegression(class_weight="balanced"))]
    ),
}


@pytest.fixture(scope="module", params=sorted(PIPELINES))
def fitted(request: pytest.FixtureRequest, training: tuple[list[str], list[int]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Scorer]:
    texts, labels = training
    pipeline = PIPELINES[request.param]().fit(texts, numpy.asarray(labels))
    path = tmp_path_factory.mktemp("scorer") / SCORER_FILE
    export_scorer(pipeline, path)
    return pipeline, load_scorer(path)


def test_edge_cases_match_sklearn(fitted: tuple[Any, Scorer]) -> None:
    pipeline, scorer = fitted
    expected = pipeline.predict_proba(EDGE_CASES)[:, 1]
    assert numpy.max(numpy.abs(numpy.asarray(scorer.score(EDGE_CASES)) - expected)) < 1e-9


@pytest.mark.slow
@needs_shared
def test_every_dev_file_matches_sklearn(fitted: tuple[Any, Scorer]) -> None:
    pipeline, scorer = fitted
    texts = dev_texts()
    assert len(texts) > 4000
    difference = numpy.abs(numpy.asarray(scorer.score(texts)) - pipeline.predict_proba(texts)[:, 1])
    assert float(difference.max()) < 1e-6
    # one at a time (cold and warm word caches) gives the same numbers as a batch
    assert [scorer.score([t])[0] for t in texts[:300]] == scorer.score(texts[:300])


def test_explanation_sums_to_logit(fitted: tuple[Any, Scorer]) -> None:
    pipeline, scorer = fitted
    text = "Not good at all, but the acting was lovely and the soundtrack great. Not good."
    explanation = scorer.explain(text, top=3)
    assert math.isclose(explanation.intercept + math.fsum(c for _, c in explanation.contributions), explanation.logit, abs_tol=1e-12)
    assert math.isclose(explanation.logit, float(pipeline.decision_function([text])[0]), abs_tol=1e-9)
    assert math.isclose(explanation.score, float(pipeline.predict_proba([text])[0, 1]), abs_tol=1e-9)
    assert len(explanation.positives) <= 3 and len(explanation.negatives) <= 3
    assert all(c > 0 for _, c in explanation.positives) and all(c < 0 for _, c in explanation.negatives)
    assert [c for _, c in explanation.positives] == sorted((c for _, c in explanation.positives), reverse=True)
    data = json.loads(json.dumps(explanation.to_dict()))
    assert set(data) == {"text", "score", "logit", "intercept", "contributions", "positives", "negatives"}
    assert set(data["contributions"][0]) == {"ngram", "contribution"}


def test_explain_default_model_names_the_ngrams(training: tuple[list[str], list[int]]) -> None:
    texts, labels = training
    scorer = scorer_from(build_pipeline(DEFAULT_PARAMS, seed=1).fit(texts, numpy.asarray(labels)))
    explanation = scorer.explain("the food was great, the service was terrible", top=5)
    labels_seen = [ngram for ngram, _ in explanation.contributions]
    assert "great" in [n for n, _ in explanation.positives]
    assert "terrible" in [n for n, _ in explanation.negatives]
    assert len(labels_seen) == len(set(labels_seen))
    empty = scorer.explain(" \t ")
    assert empty.contributions == [] and empty.logit == empty.intercept


def scorer_from(pipeline: Any) -> Scorer:
    from sentikit.engine.export import scorer_spec

    return Scorer(json.loads(json.dumps(scorer_spec(pipeline))))


def test_export_is_deterministic_and_compact(fitted: tuple[Any, Scorer], tmp_path: Path) -> None:
    pipeline, _ = fitted
    out = tmp_path / "out"
    out.mkdir()
    export_scorer(pipeline, out / "a")
    export_scorer(pipeline, out / "b")
    assert (out / "a").read_bytes() == (out / "b").read_bytes()
    assert (out / "a").read_bytes().startswith(MAGIC)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]  # no temp files left behind


def test_format_1_scorers_load_to_the_same_model(fitted: tuple[Any, Scorer], monkeypatch: pytest.MonkeyPatch) -> None:
    """Models exported before format 2 (idf and coef per term, terms as a list) still load, bit for bit."""
    from sentikit.engine import export

    pipeline, scorer = fitted
    monkeypatch.setattr(export, "_precomputed", lambda spec: spec)  # the exporter as it was
    legacy_spec = json.loads(json.dumps(export.scorer_spec(pipeline)))
    legacy_spec["format_version"] = 1
    assert all("idf" in v and isinstance(v["terms"], list) for v in legacy_spec["vectorizers"] if "terms" in v)
    legacy = Scorer(legacy_spec)
    vocabularies = [getattr(v, "vocabulary", None) for v in scorer.vectorizers]
    assert [getattr(v, "vocabulary", None) for v in legacy.vectorizers] == vocabularies
    assert legacy.score(EDGE_CASES) == scorer.score(EDGE_CASES)


def test_format_2_scorers_load_to_the_same_model(fitted: tuple[Any, Scorer], tmp_path: Path) -> None:
    """Models exported before format 3 (gzip-compressed JSON, values in base64) still load, bit for bit."""
    import gzip

    from sentikit.engine.export import scorer_spec

    pipeline, scorer = fitted
    legacy_spec = json.loads(json.dumps(scorer_spec(pipeline)))
    legacy_spec["format_version"] = 2
    (tmp_path / "scorer").write_bytes(gzip.compress(json.dumps(legacy_spec).encode(), mtime=0))
    legacy = load_scorer(tmp_path / "scorer")
    assert [getattr(v, "vocabulary", None) for v in legacy.vectorizers] == [getattr(v, "vocabulary", None) for v in scorer.vectorizers]
    assert legacy.score(EDGE_CASES) == scorer.score(EDGE_CASES)


def test_format_3_is_raw_terms_and_values_behind_a_json_header(fitted: tuple[Any, Scorer], tmp_path: Path) -> None:
    from sentikit.engine import scorer_spec_from_bytes

    pipeline, scorer = fitted
    export_scorer(pipeline, tmp_path / "scorer")
    data = (tmp_path / "scorer").read_bytes()
    spec = scorer_spec_from_bytes(data)
    word = next(v for v in spec["vectorizers"] if "values" in v)
    assert spec["format_version"] == 3 and isinstance(word["terms"], memoryview) and isinstance(word["values"], memoryview)
    assert len(word["values"]) == 16 * len(str(word["terms"], "utf-8").split("\n"))
    assert load_scorer(tmp_path / "scorer").score(EDGE_CASES) == scorer.score(EDGE_CASES)
    # every truncation, and a header that claims more or fewer bytes, is refused with one clear error
    for broken in (data[:-1], data + b"\0", data[: len(MAGIC) + 2], data[:100]):
        (tmp_path / "broken").write_bytes(broken)
        with pytest.raises(ModelIntegrityError, match="unreadable scorer"):
            load_scorer(tmp_path / "broken")
    header_end = len(MAGIC) + 4 + int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
    header = json.loads(data[len(MAGIC) + 4 : header_end])
    header["vectorizers"][0]["terms"] = {"blob": 99}
    encoded = json.dumps(header).encode()
    (tmp_path / "broken").write_bytes(MAGIC + len(encoded).to_bytes(4, "little") + encoded + data[header_end:])
    with pytest.raises(ModelIntegrityError, match="no blob 99"):
        load_scorer(tmp_path / "broken")


def test_a_progressive_load_scores_the_same_before_during_and_after_finishing(fitted: tuple[Any, Scorer], tmp_path: Path) -> None:
    import gc

    from sentikit.engine import SortedTerms, read_scorer

    pipeline, scorer = fitted
    export_scorer(pipeline, tmp_path / "scorer")
    data = (tmp_path / "scorer").read_bytes()
    expected = scorer.score(EDGE_CASES)
    explained = [scorer.explain(text).to_dict() for text in EDGE_CASES]
    progressive = read_scorer(data, progressive=True)
    bridged = [v for v in progressive.vectorizers if isinstance(getattr(v, "vocabulary", None), SortedTerms)]
    assert bridged, "a format-3 file loads progressively"
    assert progressive.score(EDGE_CASES) == expected
    assert [progressive.explain(text).to_dict() for text in EDGE_CASES] == explained
    for vectorizer in bridged:  # the binary search answers exactly what the dict will
        vocabulary = vectorizer.vocabulary
        assert "no such term" not in vocabulary and vocabulary.get("no such term") is None and 7 not in vocabulary
        assert dict(vocabulary) == next(v for v in scorer.vectorizers if v.name == vectorizer.name).vocabulary
    steps = progressive.finish_loading()
    next(steps)
    assert progressive.score(EDGE_CASES) == expected  # halfway
    for _ in steps:
        pass
    assert not any(isinstance(getattr(v, "vocabulary", None), SortedTerms) for v in progressive.vectorizers)
    del bridged, vocabulary
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is SortedTerms], "the binary-search view (and its arrays) outlived the load"
    assert [type(getattr(v, "vocabulary", None)) for v in progressive.vectorizers] == [type(getattr(v, "vocabulary", None)) for v in scorer.vectorizers]
    assert progressive.score(EDGE_CASES) == expected
    assert [progressive.explain(text).to_dict() for text in EDGE_CASES] == explained
    assert list(read_scorer(data).finish_loading()) == []  # an ordinary load has nothing left to do


def test_format_2_stores_values_and_joined_terms(training: tuple[list[str], list[int]], tmp_path: Path) -> None:
    from sentikit.engine.export import scorer_spec

    texts, labels = training
    texts = texts[:200] + ["a line\nbreak inside", "another\nline break"] * 20
    labels = labels[:200] + [0, 1] * 20
    pipeline = Pipeline([("features", FeatureUnion([("word", tfidf()), ("char", tfidf(analyzer="char", ngram_range=(1, 2)))])),
                         ("clf", LogisticRegression())]).fit(texts, numpy.asarray(labels))
    spec = json.loads(json.dumps(scorer_spec(pipeline)))
    word, char = spec["vectorizers"]
    assert spec["format_version"] == 3 and "idf" not in word and "coef" not in word
    assert isinstance(word["terms"], str) and "\n" not in word["terms"].split("\n")
    assert isinstance(char["terms"], list) and "\n" in char["terms"]  # a term holds a line break: kept a list
    expected = pipeline.predict_proba(EDGE_CASES + texts[-2:])[:, 1]
    assert numpy.max(numpy.abs(numpy.asarray(Scorer(spec).score(EDGE_CASES + texts[-2:])) - expected)) < 1e-9
    export_scorer(pipeline, tmp_path / "scorer")  # format 3 keeps such terms in the header, as a list
    assert load_scorer(tmp_path / "scorer").score(EDGE_CASES + texts[-2:]) == Scorer(spec).score(EDGE_CASES + texts[-2:])


def test_values_that_do_not_match_the_terms_are_an_integrity_error(fitted: tuple[Any, Scorer], tmp_path: Path) -> None:
    import base64

    from sentikit.engine.export import scorer_spec

    spec = json.loads(json.dumps(scorer_spec(fitted[0])))
    vectorizer = next(v for v in spec["vectorizers"] if "values" in v)
    vectorizer["values"] = base64.b64encode(base64.b64decode(vectorizer["values"])[:-16]).decode()
    (tmp_path / "scorer").write_text(json.dumps(spec))
    with pytest.raises(ModelIntegrityError, match="mismatched array lengths"):
        load_scorer(tmp_path / "scorer")


def test_unsupported_pipelines_are_refused(training: tuple[list[str], list[int]], tmp_path: Path) -> None:
    texts, labels = training
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    cases = {
        "LogisticRegression only": Pipeline([("features", tfidf()), ("clf", MultinomialNB())]),
        "only TfidfVectorizer is supported": Pipeline([("features", CountVectorizer()), ("clf", LogisticRegression())]),
        "a custom preprocessor": Pipeline([("features", tfidf(preprocessor=str.upper)), ("clf", LogisticRegression())]),
        "float64 only": Pipeline([("features", TfidfVectorizer(dtype=numpy.float32)), ("clf", LogisticRegression())]),
    }
    for message, pipeline in cases.items():
        pipeline.fit(texts[::8], labels[::8])
        with pytest.raises(UnsupportedPipelineError, match=message):
            export_scorer(pipeline, tmp_path / "scorer")
    assert not (tmp_path / "scorer").exists()
    assert issubclass(UnsupportedPipelineError, ModelIntegrityError)


@pytest.mark.slow
def test_engine_imports_and_scores_without_sklearn_scipy_or_numpy(trained_model_dir: Path) -> None:
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sklearn", "scipy", "numpy", "joblib"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from pathlib import Path
from sentikit.model import load_model
model = load_model(Path({str(trained_model_dir)!r}))
print(model.score(["what a lovely day", ""])[0], model.scorer.explain("what a lovely day").logit)
assert not any(m.split(".")[0] in ("sklearn", "scipy", "numpy") for m in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    score, logit = (float(v) for v in result.stdout.split())
    model = load_model(trained_model_dir)
    assert abs(score - float(model.pipeline.predict_proba(["what a lovely day"])[0, 1])) < 1e-9
    assert abs(logit - float(model.pipeline.decision_function(["what a lovely day"])[0])) < 1e-9


def test_tampered_scorer_is_refused(trained_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(trained_model_dir, copy)
    with open(copy / SCORER_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(copy).score(["hello"])


def test_unreadable_scorer_is_an_integrity_error(tmp_path: Path) -> None:
    (tmp_path / "scorer").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(ModelIntegrityError, match="unreadable scorer"):
        load_scorer(tmp_path / "scorer")
    (tmp_path / "scorer").write_text('{"format": "something-else"}')
    with pytest.raises(ModelIntegrityError, match="unsupported format"):
        load_scorer(tmp_path / "scorer")


def test_split_finds_the_words_of_sklearns_whitespace_rule() -> None:
    # the engine splits char_wb words with str.split(), scikit-learn with re's \s: same code points
    import re

    white = re.compile(r"\s")
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if bool(white.match(c)) != c.isspace()] == []


def test_word_cache_is_bounded(fitted: tuple[Any, Scorer], monkeypatch: pytest.MonkeyPatch) -> None:
    import sentikit.engine.scorer

    pipeline, scorer = fitted
    monkeypatch.setattr(sentikit.engine.scorer, "WORD_CACHE_SIZE", 10)
    texts = [" ".join(f"word{i}x{j}" for j in range(7)) for i in range(20)]
    assert numpy.allclose(scorer.score(texts), pipeline.predict_proba(texts)[:, 1], rtol=0, atol=1e-12)
    cached = [v for v in scorer.vectorizers if isinstance(v, sentikit.engine.scorer._Vectorizer)]
    assert all(len(v._word_cache) <= 10 and len(v._word_ids) <= 10 for v in cached)
    long_words = ["".join(chr(97 + (i * 7 + j) % 26) for j in range(200)) for i in range(5)]
    assert numpy.allclose(scorer.score(long_words), pipeline.predict_proba(long_words)[:, 1], rtol=0, atol=1e-12)
    assert not any(w in v._word_cache or w in v._word_ids for v in cached for w in long_words)
