"""The local journey driven as a user would: init, train, models, evaluate, score, explain."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

POSITIVE = "Great food and excellent service, I loved it"
NEGATIVE = "Terrible and disappointing, the worst service, very bad"


@pytest.fixture
def workspace_with_model(cli, small_training_file: Path) -> Path:
    result = cli("train", str(small_training_file), "--seed", "3", "--json")
    assert result.exit_code == 0, result.stderr
    return Path(result.json["path"])


def test_train_registers_versions_and_is_reproducible(cli, small_training_file: Path) -> None:
    first = cli("train", str(small_training_file), "--json")
    second = cli("train", str(small_training_file), "--json")
    assert first.exit_code == second.exit_code == 0
    assert (first.json["model"], second.json["model"]) == ("sentiment:1", "sentiment:2")
    one = json.loads((Path(first.json["path"]) / "manifest.json").read_text())
    two = json.loads((Path(second.json["path"]) / "manifest.json").read_text())
    assert one["files"] == two["files"]  # same data and seed: byte-identical model
    assert one["metrics"] == two["metrics"]
    listed = cli("models", "--json").json
    assert [(m["name"], m["version"]) for m in listed] == [("sentiment", 1), ("sentiment", 2)]


def test_train_params_reach_the_manifest(cli, small_training_file: Path) -> None:
    result = cli("train", str(small_training_file), "--param", "char_ngrams=null", "-p", "negation_scope=3", "--C", "2", "--json")
    assert result.exit_code == 0, result.stderr
    params = json.loads((Path(result.json["path"]) / "manifest.json").read_text())["params"]
    assert (params["char_ngrams"], params["negation_scope"], params["C"]) == (None, 3, 2.0)


def test_train_on_a_few_rows_keeps_char_ngrams_or_says_why_not(cli, tmp_path: Path) -> None:
    rows = ["text,label"] + [f"{word} service,{label}" for word, label in (("great", 1), ("awful", 0)) * 20]
    data = tmp_path / "forty.csv"
    data.write_text("\n".join(rows) + "\n")
    result = cli("train", str(data), "--json")
    assert result.exit_code == 0, result.stderr
    assert cli("score", "great", "--json").json[0]["label"] == "positive"
    too_strict = cli("train", str(data), "--param", "char_min_df=50")
    assert too_strict.exit_code == 2
    assert "cannot fit the model to 36 rows with these parameters: max_df corresponds to < documents than min_df" in too_strict.stderr
    assert "Traceback" not in too_strict.stderr


def test_train_human_output_names_the_model(cli, small_training_file: Path) -> None:
    result = cli("train", str(small_training_file), "--name", "reviews")
    assert result.exit_code == 0
    assert result.stdout == "reviews:1\n"
    assert "trained reviews:1" in result.stderr and "accuracy" in result.stderr


def test_score_arguments_stdin_and_json(cli, workspace_with_model: Path) -> None:
    single = cli("score", POSITIVE)
    assert single.exit_code == 0
    value, label = single.stdout.strip().split("\t")
    assert float(value) > 0.5 and label == "positive"
    both = cli("score", POSITIVE, NEGATIVE, "--json").json
    assert [r["label"] for r in both] == ["positive", "negative"]
    piped = cli("score", "--json", stdin=f"{POSITIVE}\n\n{NEGATIVE}\n").json
    assert [r["score"] for r in piped] == [r["score"] for r in both]
    strict = cli("score", POSITIVE, "--threshold", "0.9999", "--json").json
    assert strict[0]["label"] == "negative"


def test_score_file_keeps_format_and_adds_columns(cli, workspace_with_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "posts.csv"
    source.write_text(f'id,text\n1,"{POSITIVE}"\n2,"{NEGATIVE}, ""really"""\n', encoding="utf-8")
    out = tmp_path / "scored.csv"
    result = cli("score", "--input", str(source), "--output", str(out))
    assert result.exit_code == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "id,text,score,label"
    assert lines[1].startswith(f"1,\"{POSITIVE}\",") and lines[1].endswith(",positive")
    assert lines[2].endswith(",negative") and '""really""' in lines[2]
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(json.dumps({"id": 7, "text": NEGATIVE}) + "\n")
    streamed = cli("score", "--input", str(jsonl))
    record = json.loads(streamed.stdout)
    assert record["id"] == 7 and record["label"] == "negative" and 0 <= record["score"] < 0.5


def test_evaluate_table_json_report_and_gates(cli, workspace_with_model: Path, small_training_file: Path, tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    result = cli("evaluate", str(small_training_file), "--json", "--report", str(report_dir))
    assert result.exit_code == 0, result.stderr
    metrics = result.json["metrics"]
    assert set(metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "confusion"}
    assert metrics["rows"] == 600
    for name in ("index.html", "roc.png", "precision_recall.png", "calibration.png", "score_histogram.png"):
        assert (report_dir / name).stat().st_size > 1000
    assert 'src="roc.png"' in (report_dir / "index.html").read_text()
    failed = cli("evaluate", str(small_training_file), "--min-accuracy", "1")  # 0.97 here: a perfect score is needed
    assert failed.exit_code == 1
    assert "quality gate failed: accuracy" in failed.stderr
    passed = cli("evaluate", str(small_training_file), "--min-accuracy", "0.5", "--min-auc", "0.5")
    assert passed.exit_code == 0 and "accuracy" in passed.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["score", "   "], 2, "error: text 1 is empty"),
        (["score", "hi", "--threshold", "2"], 2, "threshold must be between 0 and 1"),
        (["score", "hi", "--model", "nope"], 2, "no model named 'nope'"),
        (["score", "hi", "--model", "nope", "--url", "http://127.0.0.1:9"], 2, "give a MODEL or --url, not both"),
        (["evaluate", "missing.csv"], 2, "missing.csv"),
        (["train", "--frobnicate"], 2, "No such option"),
        (["train", "--param", "C=-1"], 2, "training parameter C must be a number > 0, got -1"),
        (["train", "--param", "char_ngrams=[2]"], 2, "char_ngrams must be null or [min, max]"),
        (["train", "--param", "colour=blue"], 2, "unknown training parameter 'colour'"),
        (["train", "--param", "C"], 2, "must look like KEY=VALUE"),
        (["serve", "--model", "nope"], 2, "no model named 'nope'"),
        (["monitor", "-m", "nope", "--alert-below", "0.4", "--window", "10"], 2, "no model named 'nope'"),
        (["build", "sentiment", "--model", "other", "--render-only", "ctx"], 2, "two models given: 'sentiment' and --model 'other'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(cli, workspace_with_model: Path, args, code, message) -> None:
    result = cli(*args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_score_without_any_model_says_how_to_train(cli) -> None:
    result = cli("score", "hello")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no model named 'sentiment' in workspace models (train one with `sentikit train`)"


def test_init_writes_starter_config_once(cli) -> None:
    assert cli("init").exit_code == 0
    assert Path("sentikit.toml").read_text().startswith("# sentikit configuration")
    again = cli("init")
    assert again.exit_code == 2 and "already exists (use --force to overwrite)" in again.stderr


def test_config_file_and_env_reach_commands(cli, small_training_file: Path, monkeypatch) -> None:
    Path("sentikit.toml").write_text('workspace = "ws-from-file"\nmodel_name = "tweets"\n')
    assert cli("train", str(small_training_file)).exit_code == 0
    assert Path("ws-from-file/tweets/1/manifest.json").is_file()
    monkeypatch.setenv("SENTIKIT_WORKSPACE", "ws-from-env")
    assert cli("train", str(small_training_file)).exit_code == 0
    assert Path("ws-from-env/tweets/1/manifest.json").is_file()


@pytest.mark.slow
def test_real_subprocess_train_then_score(small_training_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIKIT_")}
    run = lambda *args: subprocess.run([sys.executable, "-m", "sentikit", *args], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=120)
    trained = run("train", str(small_training_file))
    assert trained.returncode == 0, trained.stderr
    scored = run("score", POSITIVE)
    assert scored.returncode == 0 and scored.stdout.endswith("\tpositive\n")
    bad = run("evaluate", str(tmp_path / "nope.tsv"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_explain_contributions_sum_to_the_logit(cli, workspace_with_model: Path) -> None:
    import math

    data = cli("explain", NEGATIVE, "--top", "3", "--json").json
    total = data["intercept"] + sum(item["contribution"] for item in data["contributions"])
    assert total == pytest.approx(data["logit"], abs=1e-9)
    assert data["score"] == pytest.approx(1 / (1 + math.exp(-data["logit"])), abs=1e-12)
    assert len(data["positives"]) <= 3 and len(data["negatives"]) == 3
    assert data["score"] == pytest.approx(cli("score", NEGATIVE, "--json").json[0]["score"], abs=1e-6)
    table = cli("explain", NEGATIVE, "--top", "3")
    assert table.exit_code == 0 and "down" in table.stdout and "contribution" in table.stdout
