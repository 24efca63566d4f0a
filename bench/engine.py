"""Scoring engine options, measured: parity, single-text rate, batch rate, memory, dependencies.

Candidates, all scoring the same fitted pipeline:
  sklearn       pipeline.predict_proba (the reference)
  engine        sentikit.engine: the exported form scored in plain Python (the choice)
  engine+numpy  the same tokenising, TF-IDF arithmetic vectorised with NumPy
  onnx          skl2onnx + onnxruntime, when importable (PYTHONPATH may point at them);
                skl2onnx refuses strip_accents, char_wb and the NB step, so it is run on a
                word-only twin (default tokens, no strip_accents, no NB), parity against that twin.

Targets (issue 3): engine single text >= 20x sklearn one call at a time; 10,000 short posts
>= 2x sklearn's batch; memory of a loaded model <= the sklearn pipeline's. Ratios come from
one run, interleaved, best of --repeat rounds.

    .venv/bin/python bench/engine.py                       # model: DEFAULT_PARAMS on data/corpus.tsv.gz
    .venv/bin/python bench/engine.py --params '{"char_ngrams": [2, 5]}'
    PYTHONPATH=/tmp/onnxlib .venv/bin/python bench/engine.py   # include ONNX Runtime

The fitted pipeline is cached in bench/out/ by its parameters. Results are printed as a
markdown table and written to bench/out/engine.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SHARED = next((p / "shared" / "datasets" for p in ROOT.parents if (p / "shared" / "datasets").is_dir()), ROOT.parent / "shared" / "datasets")
sys.path.insert(0, str(ROOT / "src"))

from sentikit.data import load_dataset  # noqa: E402
from sentikit.engine import Scorer, load_scorer  # noqa: E402
from sentikit.engine.export import export_scorer  # noqa: E402
from sentikit.train import DEFAULT_PARAMS, build_pipeline  # noqa: E402

Score = Callable[[list[str]], Any]


def fitted(params: dict[str, Any]) -> tuple[Any, Path]:
    """The pipeline for ``params`` fitted on the bundled corpus, cached; and its scorer path."""
    import joblib

    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    OUT.mkdir(parents=True, exist_ok=True)
    pipe_path, scorer_path = OUT / f"engine-{key}.joblib", OUT / f"engine-{key}.scorer"
    if pipe_path.exists() and scorer_path.exists():
        return joblib.load(pipe_path), scorer_path
    dataset = load_dataset([ROOT / "data" / "corpus.tsv.gz"])
    started = time.perf_counter()
    pipeline = build_pipeline(params, seed=42).fit(dataset.texts, np.asarray(dataset.labels))
    print(f"fitted {params} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    joblib.dump(pipeline, pipe_path, compress=3)
    export_scorer(pipeline, scorer_path)
    return pipeline, scorer_path


def short_posts(count: int) -> list[str]:
    """``count`` short texts: the UCI sentences, SST-2 dev, then SST-2 train sentences of 6+ words."""
    texts: list[str] = []
    for name in ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"):
        texts += load_dataset([SHARED / "uci-sentences" / name]).texts
    texts += load_dataset([SHARED / "sst2" / "dev.tsv"]).texts
    texts += [t for t in load_dataset([SHARED / "sst2" / "train.tsv"]).texts if len(t.split()) >= 6]
    return texts[:count]


def parity_texts() -> list[str]:
    """Every shared dev file, plus edge cases."""
    files = [SHARED / "sst2" / "dev.tsv", *sorted(SHARED.glob("multi-domain/*/dev.tsv")), *sorted(SHARED.glob("uci-sentences/*_labelled.txt"))]
    texts = [t for f in files for t in load_dataset([f]).texts]
    return texts + ["", "!!! ???", "😀 great 👍", "Café déjà vu, naïve résumé", "ΟΔΟΣ", "ﬁne ｆｕｌｌ", "good " * 5000]


def numpy_scores(scorer: Scorer, texts: list[str]) -> np.ndarray:
    """The engine's tokenising with the TF-IDF/dot-product arithmetic done by NumPy (l2 norm)."""
    logits = np.full(len(texts), scorer.intercept)
    for v in scorer.vectorizers:
        rows: list[int] = []
        counts: list[int] = []
        values: list[complex] = []
        get = v.vocabulary.get
        for i, text in enumerate(texts):
            for gram, count in Counter(v.ngrams(v.preprocess(text))).items():
                value = get(gram)
                if value is not None:
                    rows.append(i)
                    counts.append(count)
                    values.append(value)
        c = np.asarray(counts, dtype=float)
        tf = np.ones_like(c) if v.binary else (np.log(c) + 1.0 if v.sublinear_tf else c)
        packed = np.asarray(values, dtype=complex)
        squares = np.bincount(rows, tf * tf * packed.real, minlength=len(texts))
        dot = np.bincount(rows, tf * packed.imag, minlength=len(texts))
        logits += np.divide(dot, np.sqrt(squares), out=np.zeros_like(dot), where=squares > 0)
    return 1.0 / (1.0 + np.exp(-logits))


def onnx_scorer(params: dict[str, Any]) -> Optional[tuple[Score, Score, str]]:
    """(onnx score, its sklearn twin's score, note), or None when skl2onnx/onnxruntime are absent."""
    try:
        import onnxruntime
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import StringTensorType
        from sklearn.feature_extraction.text import TfidfVectorizer
    except ImportError:
        return None
    twin_params = dict(params, strip_accents=None, char_ngrams=None, nb_weighting=False, token_pattern=r"(?u)\b\w\w+\b")
    twin, _ = fitted(twin_params)
    onx = to_onnx(
        twin,
        initial_types=[("input", StringTensorType([None, 1]))],
        options={TfidfVectorizer: {"tokenexp": r"\b\w\w+\b", "locale": "C"}, id(twin.steps[-1][1]): {"zipmap": False}},
        target_opset=17,
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(onx.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def run(texts: list[str]) -> Any:
        # TfIdfVectorizer's output tensor is dense (texts x features): unchunked, 10,000 posts need ~6 GB
        chunks = [texts[i : i + 256] for i in range(0, len(texts), 256)]
        return np.concatenate(
            [session.run(None, {"input": np.array(c, dtype=object).reshape(-1, 1)})[1][:, 1] for c in chunks]
        )

    note = f"twin: word-only, default tokens, no strip_accents or NB; float32; dense tensors, run in chunks of 256; {len(onx.SerializeToString()) / 1e6:.1f} MB model"
    return run, (lambda texts: twin.predict_proba(texts)[:, 1]), note


def best_rate(fn: Callable[[], None], items: int, repeat: int) -> float:
    """Items per second, best of ``repeat`` rounds."""
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return items / best


MEMORY_SNIPPET = """
import gc, resource, sys, time, tracemalloc
sys.path.insert(0, {src!r})
kind, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if kind == "sklearn":
    import joblib, sklearn.pipeline, sklearn.linear_model, sklearn.feature_extraction.text
    load = joblib.load
else:
    from sentikit.engine import load_scorer as load
    from pathlib import Path
    path = Path(path)
imported = time.perf_counter()
tracemalloc.start()
model = load(path)
gc.collect()
current, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
loaded = time.perf_counter()
scorer = model.predict_proba if kind == "sklearn" else model.score
scorer(["warm up text"])
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
heavy = sorted(m for m in ("numpy", "scipy", "sklearn") if m in sys.modules)
print(current / 1e6, peak / 1e6, rss, imported - started, loaded - imported, ",".join(heavy) or "-")
"""


def memory(kind: str, path: Path) -> list[str]:
    """[model MB (tracemalloc), load peak MB, process RSS MB, import s, load s, heavy modules] in a fresh process."""
    code = MEMORY_SNIPPET.format(src=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", code, kind, str(path)], check=True, capture_output=True, text=True).stdout
    return out.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="{}", help="JSON overrides of DEFAULT_PARAMS")
    parser.add_argument("--single", type=int, default=500, help="texts scored one call at a time")
    parser.add_argument("--batch", type=int, default=10_000, help="short posts in the batch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="JSON", help="also score with the engine of DEFAULT_PARAMS + these overrides, "
                        "for a same-process ratio (issue 12: '{\"normalize\": null, \"lexicon_weight\": 0}' is the issue-3 default)")
    args = parser.parse_args()
    params = {**DEFAULT_PARAMS, **json.loads(args.params)}
    pipeline, scorer_path = fitted(params)
    scorer = load_scorer(scorer_path)
    posts = short_posts(args.batch)
    singles = posts[-args.single :]

    def cold(texts: list[str]) -> list[float]:
        for v in scorer.vectorizers:
            if hasattr(v, "_word_cache"):
                v._word_cache.clear()
                v._word_ids.clear()
        return scorer.score(texts)

    candidates: dict[str, tuple[Score, Score, str]] = {
        "sklearn predict_proba": (lambda t: pipeline.predict_proba(t)[:, 1], lambda t: pipeline.predict_proba(t)[:, 1], "reference"),
        "engine (plain Python)": (scorer.score, lambda t: pipeline.predict_proba(t)[:, 1], "stdlib only"),
        "engine, cold word cache": (cold, lambda t: pipeline.predict_proba(t)[:, 1], "cache cleared every call"),
    }
    if all(hasattr(v, "vocabulary") for v in scorer.vectorizers):  # the NumPy variant knows no lexicon part
        candidates["engine + NumPy arithmetic"] = (lambda t: numpy_scores(scorer, t), lambda t: pipeline.predict_proba(t)[:, 1], "needs NumPy")
    if args.baseline:
        baseline = load_scorer(fitted({**DEFAULT_PARAMS, **json.loads(args.baseline)})[1])
        candidates["baseline engine (--baseline model)"] = (baseline.score, baseline.score, f"model {args.baseline}; parity is with itself")
    onnx = onnx_scorer(params)
    if onnx is not None:
        candidates["ONNX Runtime (twin model)"] = onnx
    texts = parity_texts()
    rows = []
    for name, (fn, reference, note) in candidates.items():
        parity = float(np.max(np.abs(np.asarray(fn(texts), dtype=float) - reference(texts))))
        single = best_rate(lambda: [fn([t]) for t in singles], len(singles), args.repeat)
        fn(posts)  # warm (caches, lazy imports)
        batch = best_rate(lambda: fn(posts), len(posts), args.repeat)
        rows.append((name, parity, single, batch, note))
    base_single, base_batch = rows[0][2], rows[0][3]
    sk_mem, en_mem = memory("sklearn", OUT / scorer_path.name.replace(".scorer", ".joblib")), memory("engine", scorer_path)

    lines = [
        f"Model: {json.dumps(params)} fitted on data/corpus.tsv.gz; "
        f"{sum(len(v) for v in scorer.vectorizers):,} features; scorer file {scorer_path.stat().st_size / 1e6:.1f} MB "
        f"(gzip JSON), joblib {(OUT / scorer_path.name.replace('.scorer', '.joblib')).stat().st_size / 1e6:.1f} MB.",
        f"Parity over {len(texts):,} texts (all shared dev files + edge cases); single = {len(singles)} distinct texts one call each; "
        f"batch = {len(posts):,} short posts in one call. Best of {args.repeat}.",
        "",
        "| scorer | max abs diff | single texts/s | × sklearn | batch texts/s | × sklearn | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, parity, single, batch, note in rows:
        lines.append(
            f"| {name} | {parity:.1e} | {single:,.0f} | {single / base_single:.1f} | {batch:,.0f} | {batch / base_batch:.1f} | {note} |"
        )
    lines += [
        "",
        "| loaded in a fresh process | model objects MB (tracemalloc) | load peak MB | process RSS MB | import s | load s | heavy modules imported |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, values in (("sklearn pipeline (joblib)", sk_mem), ("engine scorer", en_mem)):
        cur, peak, rss, imp, load = (float(v) for v in values[:5])
        lines.append(f"| {name} | {cur:.1f} | {peak:.1f} | {rss:.0f} | {imp:.2f} | {load:.2f} | {values[5]} |")
    report = "\n".join(lines)
    print(report)
    (OUT / "engine.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
