"""Broadcast or closure, task by task: how the model reaches Spark's Python workers (issue 16).

`bench/spark.py --choices` runs each variant in a fresh process, so the machine's mood between runs
lands in the ratio. This runs both variants in ONE local[2] session, alternating their order each
round, and logs every task from inside the Python worker: its pid (is the worker reused?), the model
load (is the model re-read per task?), the time spent waiting for the JVM's next Arrow batch (does the
worker starve?) and the time spent scoring.

    .venv/bin/python bench/spark_ship.py --rows 100000 --rounds 4

Data and model as bench/spark.py makes them (bench/out/spark/); read with an explicit schema, written
to Spark's `noop` sink.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))


def logged_batches(source: Any, variant: str, log: str, text_index: int, batches: Iterator[Any]) -> Iterator[Any]:
    """sentikit.spark.scoring._score_batches with a stopwatch around each step; one JSON line per task."""
    import pyarrow as pa
    from pyspark import TaskContext

    from sentikit.spark.scoring import executor_model, score_values

    started = time.perf_counter()
    model = executor_model(source)
    load = time.perf_counter() - started
    wait = work = 0.0
    rows = 0
    iterator = iter(batches)
    while True:
        before = time.perf_counter()
        batch = next(iterator, None)
        got = time.perf_counter()
        wait += got - before
        if batch is None:
            break
        scores, labels = score_values(model, batch.column(text_index).to_pylist(), 0.5)
        out = pa.RecordBatch.from_arrays([*batch.columns, pa.array(scores, pa.float64()), pa.array(labels, pa.string())],
                                         names=[*batch.schema.names, "score", "label"])
        work += time.perf_counter() - got
        rows += batch.num_rows
        yield out
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"variant": variant, "pid": os.getpid(), "partition": TaskContext.get().partitionId(),
                                 "rows": rows, "load": load, "wait": wait, "work": work,
                                 "wall": time.perf_counter() - started}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    import spark as bench  # bench/spark.py: the data file and the model
    from sentikit.model import load_model
    from sentikit.spark import build_session
    from sentikit.spark.scoring import InlineFiles, broadcast_model, files_key, model_files

    data, model = bench.posts_file(args.rows), load_model(bench.default_model())
    log = os.path.join(tempfile.mkdtemp(prefix="sentikit-ship-"), "tasks.jsonl")  # one JSON line per task, per job
    session = build_session("local[2]", app_name="sentikit-bench-ship")
    source = session.read.schema("id LONG, source STRING, text STRING").json(str(data))
    source.write.format("noop").mode("overwrite").save()  # JVM warm-up
    schema = StructType([*source.schema.fields, StructField("score", DoubleType()), StructField("label", StringType())])
    files = model_files(model)
    ships = {"broadcast": lambda: broadcast_model(source, model), "closure": lambda: InlineFiles(files_key(files), files)}
    lines = ["| round | variant | job s | tasks: rows, wall s, scoring s, waiting for the JVM s, model load s, worker pid |",
             "| ---: | --- | ---: | --- |"]
    for number in range(args.rounds):
        for variant in (["broadcast", "closure"] if number % 2 == 0 else ["closure", "broadcast"]):
            started = time.perf_counter()
            source.mapInArrow(partial(logged_batches, ships[variant](), variant, log, 2), schema).write.format("noop").mode("overwrite").save()
            seconds = time.perf_counter() - started
            with open(log, encoding="utf-8") as handle:
                tasks = [json.loads(line) for line in handle]
            os.unlink(log)
            described = "; ".join(f"{t['rows']:,}, {t['wall']:.2f}, {t['work']:.2f}, {t['wait']:.2f}, {t['load']:.2f}, {t['pid']}"
                                  for t in sorted(tasks, key=lambda t: t["partition"]))
            lines.append(f"| {number + 1} | {variant} | {seconds:.2f} | {described} |")
            print(lines[-1], file=sys.stderr, flush=True)
    session.stop()
    print(f"### `bench/spark_ship.py --rows {args.rows} --rounds {args.rounds}` "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f})\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
