"""sentikit.spark.score against a real Spark, in local mode and on the standalone cluster."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentikit.errors import InvalidInputError
from sentikit.score import label_for
from sentikit.spark import score

pytestmark = pytest.mark.slow


def _frame(spark: Any, tmp_path: Path, columns: dict[str, list[Any]], partitions: int = 1) -> Any:
    """A DataFrame read from a Parquet file (as data usually arrives), in ``partitions`` partitions."""
    path = tmp_path / f"input-{len(list(tmp_path.iterdir()))}.parquet"
    pq.write_table(pa.table(columns), path)
    df = spark.read.parquet(str(path))
    return df.repartition(partitions) if partitions > 1 else df


def test_parity_with_the_local_engine_on_10000_texts(spark: Any, tmp_path: Path, trained_model: Any, parity_texts: list[str]) -> None:
    df = _frame(spark, tmp_path, {"id": list(range(len(parity_texts))), "text": parity_texts}, partitions=3)
    scored = score(df, trained_model, threshold=0.6)
    expected = trained_model.score(parity_texts)

    rows = scored.collect()
    assert len(rows) == 10_000
    by_id = {row.id: row for row in rows}
    worst = max(abs(by_id[i].score - expected[i]) for i in range(len(parity_texts)))
    assert worst <= 1e-9
    assert all(by_id[i].label == label_for(expected[i], 0.6) for i in range(len(parity_texts)))
    assert all(by_id[i].text == parity_texts[i] for i in range(len(parity_texts)))


def test_keeps_columns_partitioning_and_types(spark: Any, tmp_path: Path, trained_model: Any) -> None:
    df = _frame(spark, tmp_path, {"text": ["great stay", "awful host", "fine"] * 20, "n": list(range(60))}, partitions=4)
    before = df.rdd.glom().map(len).collect()
    scored = score(df, trained_model)

    assert [(f.name, f.dataType.simpleString()) for f in scored.schema.fields] == [
        ("text", "string"), ("n", "bigint"), ("score", "double"), ("label", "string")]
    assert scored.rdd.getNumPartitions() == 4
    assert scored.rdd.glom().map(len).collect() == before


def test_bad_rows_get_a_null_score_not_a_failed_job(spark: Any, tmp_path: Path, trained_model: Any) -> None:
    texts = ["Lovely flat, great host", None, "", "Dirty and noisy", None]
    df = _frame(spark, tmp_path, {"id": list(range(5)), "text": texts})
    rows = sorted(score(df, trained_model).collect(), key=lambda r: r.id)

    assert [r.score is None for r in rows] == [False, True, False, False, True]
    assert [r.label is None for r in rows] == [False, True, False, False, True]
    # a blank text is scored as `sentikit score --input` scores it, by the engine
    assert rows[2].score == pytest.approx(trained_model.score([""])[0], abs=1e-12)


def test_a_column_that_is_not_text_gives_null_scores_and_a_warning(spark: Any, tmp_path: Path, trained_model: Any) -> None:
    df = _frame(spark, tmp_path, {"text": [1, 2, 3], "raw": pa.array([b"good", b"\xff\xfe", None], pa.binary())})
    with pytest.warns(UserWarning, match="column 'text' is bigint, not text"):
        numbers = score(df, trained_model).collect()
    assert [r.score for r in numbers] == [None, None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # binary text is text: no warning
        raw = score(df, trained_model, text_col="RAW").collect()  # found case-insensitively, as Spark does
    assert raw[0].score == pytest.approx(trained_model.score(["good"])[0], abs=1e-12)
    assert [r.score for r in raw[1:]] == [None, None]  # invalid UTF-8, null


def test_column_names_clash_as_score_input_handles_them(spark: Any, tmp_path: Path, trained_model: Any) -> None:
    df = _frame(spark, tmp_path, {"text": ["good"], "Score": [5]})
    assert score(df, trained_model).columns == ["text", "Score", "sentikit_score", "sentikit_label"]
    assert score(df, trained_model, score_col="p", label_col="sentiment").columns == ["text", "Score", "p", "sentiment"]
    with pytest.raises(InvalidInputError, match="already has a column 'score'"):
        score(df, trained_model, score_col="score")
    with pytest.raises(InvalidInputError, match="no column 'body' to score"):
        score(df, trained_model, text_col="body")
    with pytest.raises(InvalidInputError, match="threshold"):
        score(df, trained_model, threshold=1.5)


def test_model_by_directory_and_by_name(spark: Any, tmp_path: Path, trained_model_dir: Path) -> None:
    df = _frame(spark, tmp_path, {"text": ["what a wonderful day"]})
    by_path = score(df, str(trained_model_dir)).first()
    by_name = score(df, "sentiment:1", workspace=trained_model_dir.parents[1]).first()
    assert by_path.score == by_name.score


def test_streaming_scores_new_json_lines_files_as_they_arrive(spark: Any, tmp_path: Path, trained_model: Any) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stream = spark.readStream.schema("id LONG, text STRING").json(str(inbox))
    assert stream.isStreaming
    scored = score(stream, trained_model)
    name = f"scored_{tmp_path.name.replace('-', '_')}"
    query = scored.writeStream.format("memory").queryName(name).outputMode("append").start()
    try:
        batches = [["Wonderful host, spotless flat", "Never again, filthy"], ["The view was great", None]]
        seen: list[Any] = []
        for number, texts in enumerate(batches):
            lines = [json.dumps({"id": number * 10 + i, "text": t}) for i, t in enumerate(texts)]
            staging = tmp_path / f"part-{number}.jsonl"
            staging.write_text("\n".join(lines) + "\n", encoding="utf-8")
            staging.rename(inbox / staging.name)  # appears whole, as a file source expects
            query.processAllAvailable()
            seen = spark.sql(f"SELECT * FROM {name}").collect()
            assert len(seen) == sum(len(b) for b in batches[: number + 1])
        assert query.exception() is None
    finally:
        query.stop()
    by_id = {row.id: row for row in seen}
    expected = trained_model.score(["Wonderful host, spotless flat", "Never again, filthy", "The view was great"])
    for row_id, value in zip((0, 1, 10), expected):
        assert abs(by_id[row_id].score - value) <= 1e-9
    assert by_id[11].score is None and by_id[11].label is None


def test_model_carried_in_the_function_as_on_spark_connect(spark: Any, tmp_path: Path, trained_model: Any) -> None:
    from sentikit.spark.scoring import InlineFiles, files_key, model_files, score_with

    files = model_files(trained_model)
    assert sorted(files) == ["manifest.json", "scorer.json"]  # the serving files, never the joblib pipeline
    df = _frame(spark, tmp_path, {"text": ["spotless and quiet", "rude staff"]}, partitions=2)
    rows = score_with(df, InlineFiles(files_key(files), files)).collect()
    expected = dict(zip(["spotless and quiet", "rude staff"], trained_model.score(["spotless and quiet", "rude staff"])))
    assert all(abs(r.score - expected[r.text]) <= 1e-9 for r in rows)


def test_a_tampered_model_fails_on_the_driver_before_any_job(spark: Any, tmp_path: Path, trained_model_dir: Path) -> None:
    import shutil

    from sentikit.errors import ModelIntegrityError

    copy = tmp_path / "model"
    shutil.copytree(trained_model_dir, copy)
    data = bytearray((copy / "scorer.json").read_bytes())
    data[-10] ^= 0xFF
    (copy / "scorer.json").write_bytes(bytes(data))
    df = _frame(spark, tmp_path, {"text": ["fine"]})
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        score(df, str(copy))


@pytest.fixture(scope="module")
def calibrated_model(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The small model with an isotonic calibration in its scorer (what `sentikit adapt` stores)."""
    import shutil

    from sentikit.engine.export import export_scorer
    from sentikit.model import PIPELINE_FILE, SCORER_FILE, load_model, register_model

    pipeline = load_model(trained_model_dir).pipeline
    calibration = {"kind": "isotonic", "x": [-4.0, -1.0, 0.0, 1.0, 4.0], "y": [0.02, 0.2, 0.45, 0.7, 0.97]}

    def write(directory: Path) -> dict[str, Any]:
        shutil.copyfile(trained_model_dir / PIPELINE_FILE, directory / PIPELINE_FILE)
        export_scorer(pipeline, directory / SCORER_FILE, calibration=calibration)
        return {"note": "calibrated for tests/spark"}

    return register_model(tmp_path_factory.mktemp("calibrated"), "calibrated", write)


def test_a_calibrated_model_scores_exactly_as_locally(spark: Any, tmp_path: Path, calibrated_model: Any,
                                                      trained_model: Any, parity_texts: list[str]) -> None:
    texts = parity_texts[:500]
    expected = calibrated_model.score(texts)
    assert expected != trained_model.score(texts) and 0.02 <= min(expected) and max(expected) <= 0.97  # calibrated
    df = _frame(spark, tmp_path, {"id": list(range(len(texts))), "text": texts}, partitions=2)
    by_id = {row.id: row.score for row in score(df, calibrated_model).collect()}
    assert max(abs(by_id[i] - expected[i]) for i in range(len(texts))) <= 1e-9
