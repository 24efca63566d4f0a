"""`sentikit score --spark` end to end: files in, a folder of part files out, the summary, the errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from sentikit.score import label_for

pytestmark = pytest.mark.slow
local_only = pytest.mark.parametrize("spark", ["local"], indirect=True)  # the CLI path is the same on a cluster


def _json_lines(path: Path, rows: list[Any]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


@local_only
def test_jsonl_folder_to_parquet_with_a_json_summary(spark: Any, cli: Any, tmp_path: Path, trained_model: Any) -> None:
    inbox = tmp_path / "posts"
    inbox.mkdir()
    texts = ["Lovely host, spotless flat", "Dirty, noisy and the host never answered", "ok I guess"]
    _json_lines(inbox / "a.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[:2])])
    _json_lines(inbox / "b.jsonl", [{"id": 2, "text": texts[2]}, {"id": 3, "text": None}, "{not json"])
    out = tmp_path / "scored"

    result = cli("score", "--spark", "--input", f"{inbox}/*.jsonl", "--output", str(out), "-m", str(trained_model.path),
                 "--json")

    assert result.exit_code == 0, result.stderr
    expected = trained_model.score(texts)
    summary = result.json
    assert {k: summary[k] for k in ("rows", "scored", "positives", "format", "text_column", "score_column")} == {
        "rows": 5, "scored": 3, "positives": sum(label_for(s, 0.5) == "positive" for s in expected),
        "format": "parquet", "text_column": "text", "score_column": "score"}
    assert summary["mean_score"] == pytest.approx(sum(expected) / 3, abs=1e-12)
    assert summary["rows_per_second"] > 0 and summary["startup_seconds"] == 0  # the running session was used
    table = ds.dataset(out, format="parquet").to_table().to_pylist()
    by_id = {row["id"]: row for row in table if row["id"] is not None}
    for i, value in enumerate(expected):
        assert abs(by_id[i]["score"] - value) <= 1e-9
    assert by_id[3]["score"] is None
    assert any(row.get("_corrupt_record") == "{not json" and row["score"] is None for row in table)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scored")]  # staging folder renamed away


@local_only
def test_csv_with_quoted_newlines_to_csv(spark: Any, cli: Any, tmp_path: Path, trained_model: Any) -> None:
    source = tmp_path / "posts.csv"
    texts = ['He said ""wow"", great stay', "line one\nline two, still one post", "meh"]
    source.write_text('post_id,body,score\n1,"He said ""wow"", great stay",9\n2,"line one\nline two, still one post",8\n3,meh,7\n',
                      encoding="utf-8")
    out = tmp_path / "out"

    result = cli("score", "--spark", "--input", str(source), "--output", out.as_uri(), "--format", "csv", "-m",
                 str(trained_model.path), "--threshold", "0.4")

    assert result.exit_code == 0, result.stderr
    assert "scored 3 rows" in result.stderr and "→" in result.stderr
    with open(next(out.glob("part-*.csv")), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["post_id", "body", "score", "sentikit_score", "sentikit_label"]  # input had a score column
    expected = trained_model.score([t.replace('""', '"') for t in texts])
    assert [r["body"] for r in rows] == [t.replace('""', '"') for t in texts]
    assert [abs(float(r["sentikit_score"]) - e) <= 1e-9 for r, e in zip(rows, expected)] == [True] * 3
    assert [r["sentikit_label"] for r in rows] == [label_for(e, 0.4) for e in expected]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--master", "local[1]", "--input", "x.csv"], "--master, --format and --overwrite go with --spark"),
        (["--spark", "--input", "x.csv"], "--spark needs --input PATH_OR_GLOB and --output FOLDER"),
        (["--spark", "--url", "http://127.0.0.1:9", "--input", "x.csv", "--output", "o"], "without --url"),
        (["--spark", "--input", "missing.jsonl", "--output", "o"], "missing.jsonl: no such file or folder"),
        (["--spark", "--input", "notes.txt", "--output", "o"], "cannot tell the input format"),
        (["--spark", "--input", "posts.csv", "--output", "o", "--format", "xml"], "--format must be one of parquet, csv, json"),
        (["--spark", "--input", "posts.csv", "--output", "taken"], "taken already exists"),
        (["--spark", "--input", "-", "--output", "o"], "not stdin"),
    ],
)
def test_user_errors_exit_2_before_spark_starts(cli: Any, trained_model: Any, args: list[str], message: str) -> None:
    Path("posts.csv").write_text("text\nfine\n", encoding="utf-8")
    Path("notes.txt").write_text("fine\n", encoding="utf-8")
    Path("taken").mkdir()
    result = cli("score", "-m", str(trained_model.path), *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _sentikit(args: list[str], env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom sentikit.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_no_java_is_exit_3_with_what_to_install(tmp_path: Path, trained_model: Any) -> None:
    (tmp_path / "posts.csv").write_text("text\nfine\n", encoding="utf-8")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "NO_COLOR": "1"}
    result = _sentikit(["score", "--spark", "-m", str(trained_model.path), "--input", str(tmp_path / "posts.csv"),
                        "--output", str(tmp_path / "out")], env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == f"error: JAVA_HOME={tmp_path / 'no-java'} has no bin/java: point it at a Java 17+ runtime"


def test_no_pyspark_is_exit_3_and_nothing_imports_it_unless_used(tmp_path: Path, trained_model: Any) -> None:
    (tmp_path / "posts.csv").write_text("text\nfine\n", encoding="utf-8")
    env = {**os.environ, "NO_COLOR": "1"}
    blocked = "sys.modules['pyspark'] = None  # as if not installed"
    result = _sentikit(["score", "--spark", "-m", str(trained_model.path), "--input", str(tmp_path / "posts.csv"),
                        "--output", str(tmp_path / "out")], env, prelude=blocked)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == "error: PySpark is not installed: pip install 'sentikit[spark]'"

    probe = "import sys, sentikit.cli, sentikit.spark; print(sorted(m for m in ('pyspark', 'pyarrow', 'pandas') if m in sys.modules))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert imported.stdout.strip() == "[]", imported.stderr


@local_only
def test_overwrite_replaces_a_previous_output_only_when_asked(spark: Any, cli: Any, tmp_path: Path, trained_model: Any) -> None:
    source = tmp_path / "posts.jsonl"
    _json_lines(source, [{"text": "Lovely host, spotless flat"}, {"text": "Dirty and noisy"}])
    out, model = tmp_path / "scored", str(trained_model.path)
    assert cli("score", "--spark", "--input", str(source), "--output", str(out), "-m", model).exit_code == 0

    again = cli("score", "--spark", "--input", str(source), "--output", str(out), "-m", model)
    assert again.exit_code == 2 and again.stderr.strip() == (
        f"error: {out} already exists: remove it, choose another --output folder, or pass --overwrite")
    replaced = cli("score", "--spark", "--input", str(source), "--output", str(out), "-m", model, "--overwrite",
                   "--format", "json", "--threshold", "1.0")
    assert replaced.exit_code == 0, replaced.stderr
    rows = [json.loads(line) for part in sorted(out.glob("part-*.json")) for line in part.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["negative", "negative"] and not list(out.glob("*.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts.jsonl", "scored", "work"]  # no staging or old copy left

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    refused = cli("score", "--spark", "--input", str(source), "--output", str(mine), "-m", model, "--overwrite")
    assert refused.exit_code == 2 and "is not a folder Spark wrote (no _SUCCESS file)" in refused.stderr
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me"


@local_only
def test_json_numbers_are_scored_as_text_and_objects_refused_as_score_input_does(
    spark: Any, cli: Any, tmp_path: Path, trained_model: Any,
) -> None:
    numbers = tmp_path / "numbers.jsonl"
    _json_lines(numbers, [{"id": 0, "text": 42}, {"id": 1, "text": 3.5}, {"id": 2, "text": 10}])
    local = cli("score", "--input", str(numbers), "--output", str(tmp_path / "local.jsonl"), "-m", str(trained_model.path))
    assert local.exit_code == 0, local.stderr
    expected = [json.loads(line)["score"] for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    out = tmp_path / "scored"
    result = cli("score", "--spark", "--input", str(numbers), "--output", str(out), "-m", str(trained_model.path), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["scored"] == 3
    table = sorted(ds.dataset(out, format="parquet").to_table().to_pylist(), key=lambda row: row["id"])
    assert [row["text"] for row in table] == ["42", "3.5", "10"]
    assert [round(row["score"], 6) for row in table] == expected

    objects = tmp_path / "objects.jsonl"
    _json_lines(objects, [{"text": {"body": "lovely"}}, {"text": {"body": "awful"}}])
    local = cli("score", "--input", str(objects), "-m", str(trained_model.path))
    spark_run = cli("score", "--spark", "--input", str(objects), "--output", str(tmp_path / "o"), "-m", str(trained_model.path))
    assert (local.exit_code, spark_run.exit_code) == (2, 2)
    assert "'text' is an object, not a string" in local.stderr
    assert spark_run.stderr.strip() == f"error: {objects}: 'text' is an object, not a string (score the field that holds the text)"
    assert not (tmp_path / "o").exists()
