"""sentikit adapt: retrain on a team's posts, recalibrate, compare with intervals, register with lineage."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from sentikit.adapt import calibrate, fit_calibration, user_weight
from sentikit.engine import Calibration
from sentikit.evaluate import bootstrap_metrics
from sentikit.engine import scorer_spec_from_bytes
from sentikit.model import SCORER_FILE, load_model

from _datasets import corpus_rows


def write_csv(path: Path, rows: list[tuple[str, int]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A base model trained on phone and movie sentences; the team's posts are restaurant reviews."""
    from sentikit.data import load_dataset
    from sentikit.train import train_model

    root = tmp_path_factory.mktemp("adapt")
    corpus = write_csv(root / "corpus.csv", corpus_rows("uci-amazon")[:300] + corpus_rows("uci-imdb")[:300])
    workspace = root / "models"
    base = train_model(load_dataset([corpus]), workspace=workspace, name="sentiment", seed=3).model
    yelp = corpus_rows("uci-yelp")
    random.Random(5).shuffle(yelp)
    return {"root": root, "corpus": corpus, "workspace": workspace, "base": base, "posts": write_csv(root / "posts.csv", yelp[:200])}


def test_calibration_specs_map_logits_like_sklearn() -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = random.Random(1)
    logits = [rng.gauss(0, 2) for _ in range(400)]
    labels = [int(rng.random() < 1 / (1 + math.exp(-0.5 * x - 1))) for x in logits]
    platt = fit_calibration(logits, labels, "platt")
    assert platt["kind"] == "platt" and 0.3 < platt["a"] < 0.8 and 0.6 < platt["b"] < 1.5
    iso = fit_calibration(logits, labels, "isotonic")
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(logits, labels)
    probes = [-9.0, -1.3, 0.0, 0.7, 2.2, 9.0, *logits[:50]]
    assert calibrate(iso, probes) == pytest.approx(list(reference.predict(probes)), abs=1e-12)
    assert fit_calibration(logits, labels)["kind"] == "platt"  # auto: too few rows for isotonic
    with pytest.raises(Exception, match="isotonic calibration needs sorted"):
        Calibration({"kind": "isotonic", "x": [1.0, 0.0], "y": [0.1, 0.2]})


def test_bootstrap_intervals_hold_the_point_value() -> None:
    rng = random.Random(2)
    labels = [rng.randint(0, 1) for _ in range(200)]
    scores = [min(1.0, max(0.0, 0.35 * y + 0.65 * rng.random())) for y in labels]
    metrics = bootstrap_metrics(labels, scores, rounds=200)
    from sklearn.metrics import f1_score, roc_auc_score

    assert metrics["roc_auc"]["value"] == pytest.approx(roc_auc_score(labels, scores))
    assert metrics["f1_negative"]["value"] == pytest.approx(f1_score(labels, [int(s >= 0.5) for s in scores], pos_label=0))
    for name in ("accuracy", "f1_negative", "roc_auc"):
        assert metrics[name]["low"] <= metrics[name]["value"] <= metrics[name]["high"]
    assert bootstrap_metrics(labels, scores, rounds=200) == metrics  # seeded


def test_user_weight_makes_the_posts_a_share_of_the_corpus() -> None:
    assert user_weight(70_000, 140) == pytest.approx(25.0)  # USER_SHARE 0.05
    assert user_weight(70_000, 140, share=0.2) == pytest.approx(100.0)
    assert user_weight(100, 140) == 1.0


@pytest.mark.slow
def test_adapt_beats_the_base_on_held_out_posts_and_registers_with_lineage(setting: dict[str, Any], cli: Any) -> None:
    result = cli("adapt", str(setting["posts"]), "--corpus", str(setting["corpus"]), "--workspace", str(setting["workspace"]), "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    c = out["comparison"]
    assert out["registered"] and out["base"] == "sentiment:1" and c["method"] == "holdout" and c["rows"] == 60
    assert c["after"]["accuracy"]["value"] > c["before"]["accuracy"]["value"]
    for side in ("before", "after"):
        for metric in ("accuracy", "f1_negative", "roc_auc"):
            m = c[side][metric]
            assert m["low"] <= m["value"] <= m["high"]
        # resampling inflates calibration error, so its point value may sit below the percentile interval
        assert 0 <= c[side]["ece"]["low"] <= c[side]["ece"]["high"]
    model = load_model(Path(out["path"]))
    lineage = model.manifest["lineage"]
    assert lineage["base"]["reference"] == "sentiment:1" and lineage["base"]["checksum"] == setting["base"].checksum
    assert lineage["adapted_on"][0]["rows"] == 200 and len(lineage["adapted_on"][0]["sha256"]) == 64
    # the calibration lives in the exported scorer: every scorer of the model applies it exactly
    scorer_spec = scorer_spec_from_bytes((model.path / SCORER_FILE).read_bytes())
    assert scorer_spec["calibration"]["kind"] == model.manifest["calibration"]["kind"] == "platt"
    texts = ["The pasta was cold and the waiter rude.", "Lovely staff, great food!"]
    raw = model.pipeline.decision_function(texts)
    assert model.score(texts) == pytest.approx(calibrate(model.manifest["calibration"], list(raw)), abs=1e-12)
    explained = model.scorer.explain(texts[0])
    assert explained.score == pytest.approx(model.score(texts[:1])[0], abs=1e-12)
    score = cli("score", "-m", out["model"], "--workspace", str(setting["workspace"]), "--json", texts[1])
    assert score.exit_code == 0 and score.json[0]["score"] == pytest.approx(model.score(texts[1:])[0], abs=1e-6)


@pytest.mark.slow
def test_adapt_refuses_a_model_that_is_not_better_unless_forced(setting: dict[str, Any], cli: Any) -> None:
    # posts labelled with the base model's own answers: the base is right on every one, nothing can beat it
    texts = [text for text, _ in corpus_rows("uci-yelp")[-60:]]
    noise = write_csv(setting["root"] / "own.csv", [(t, int(s >= 0.5)) for t, s in zip(texts, setting["base"].score(texts))])
    args = ["adapt", str(noise), "--base", "sentiment:1", "--corpus", str(setting["corpus"]), "--workspace", str(setting["workspace"]), "--json"]
    refused = cli(*args)
    assert refused.exit_code == 1 and "not registered" in refused.stderr
    assert refused.json["registered"] is False and refused.json["comparison"]["method"] == "cross-validation"
    forced = cli(*args, "--force")
    assert forced.exit_code == 0 and forced.json["registered"] and forced.json["forced"]


def test_adapt_needs_both_classes(setting: dict[str, Any], cli: Any) -> None:
    few = write_csv(setting["root"] / "few.csv", [(text, 1) for text, label in corpus_rows("uci-yelp")[:30] if label] + [("bad", 0)])
    result = cli("adapt", str(few), "--corpus", str(setting["corpus"]), "--workspace", str(setting["workspace"]))
    assert result.exit_code == 2 and "at least 5 labelled posts of each class" in result.stderr
