"""Scoring at scale: sentikit.spark on local[1] and local[2] against `sentikit score --input` (issue 16).

Data: N posts (default 1,000,000), the bundled corpus (data/corpus.tsv.gz, 77,149 posts) cycled, as one
JSON-lines file {"id", "text", "source"}. Every configuration scores that same file and writes its
output in the same format (JSON lines: score --input one file, Spark one part file per partition;
`--spark-format parquet` for what `score --spark` writes by default), each in a fresh process so that the
JVM, the Python workers and the word caches all start cold:

  score --input   sentikit.score.score_file with the model, in one process (what the CLI runs)
  local[1], local[2]   sentikit.spark.score_files on a session of that master; reported apart:
                  start-up = JVM + session, then a tiny job that ships and loads the model on each
                  Python worker; posts/s = N / the scoring job after that.

Job CPU seconds are the worker process tree's (JVM and Python workers included, read from /proc) during
the scoring job: on a shared machine, posts per CPU-second is the steadier per-core figure.
Each round runs all three in turn; the ratios in a row come from the same round.

`--choices` measures the two implementation choices on a smaller file (local[2], output to Spark's
`noop` sink so only reading and scoring count), one fresh process per variant:
  arrow+broadcast (the choice)   mapInArrow, model files in a broadcast variable
  pandas+broadcast               mapInPandas, same scoring per batch
  arrow+file                     mapInArrow, model folder shipped with SparkContext.addFile
  arrow+closure                  mapInArrow, model bytes in the function (InlineFiles, what Spark Connect
                                 gets; classic PySpark broadcasts a command over 1 MB by itself)

    .venv/bin/python bench/spark.py                    # 1,000,000 posts, 2 rounds
    .venv/bin/python bench/spark.py --rows 200000 --rounds 1
    .venv/bin/python bench/spark.py --choices --choices-rows 200000

The model is DEFAULT_PARAMS trained on the bundled corpus (cached in bench/out/spark/), or --model DIR.
Results are printed as markdown and appended to bench/out/spark.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Optional

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
WORK = OUT / "spark"
sys.path.insert(0, str(ROOT / "src"))

from sentikit.model import SentimentModel, load_model  # noqa: E402


# --- data and model -------------------------------------------------------------------------------

def corpus_posts() -> list[tuple[str, str]]:
    from sentikit.data import default_training_files

    csv.field_size_limit(1 << 24)
    with gzip.open(default_training_files()[0], "rt", encoding="utf-8", newline="") as handle:
        return [(row["text"], row["source"]) for row in csv.DictReader(handle, delimiter="\t")]


def posts_file(rows: int) -> Path:
    path = WORK / f"posts-{rows}.jsonl"
    if not path.exists():
        posts = corpus_posts()
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for i in range(rows):
                text, source = posts[i % len(posts)]
                handle.write(json.dumps({"id": i, "text": text, "source": source}, ensure_ascii=False) + "\n")
        tmp.rename(path)
    return path


def default_model() -> Path:
    workspace = WORK / "models"
    found = sorted(workspace.glob("sentiment/*/manifest.json"))
    if found:
        return found[-1].parent
    from sentikit.data import default_training_files, load_dataset
    from sentikit.train import train_model

    print("training the default model on the bundled corpus (once, cached in bench/out/spark/models)", file=sys.stderr)
    return Path(train_model(load_dataset(default_training_files()), workspace=workspace, name="sentiment", seed=42).model.path)


# --- workers (one fresh process each) ---------------------------------------------------------------

def tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and all its descendants (the JVM, PySpark's daemon and
    Python workers), reaped children included, from /proc."""
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            used[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(used.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def run_cli_worker(model_dir: Path, data: Path) -> dict[str, Any]:
    from sentikit.score import score_file

    started = time.perf_counter()
    model = load_model(model_dir)
    model.scorer
    loaded, cpu = time.perf_counter(), tree_cpu_seconds()
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        summary = score_file(model, str(data), str(Path(tmp) / "scored.jsonl"))
    done = time.perf_counter()
    return {"rows": summary.rows, "startup": loaded - started, "job": done - loaded, "job_cpu": tree_cpu_seconds() - cpu}


def _session(master: str) -> Any:
    from sentikit.spark import build_session

    # ~16 MB splits: enough partitions to keep both cores busy to the end of the job
    return build_session(master, app_name="sentikit-bench", conf={"spark.sql.files.maxPartitionBytes": str(16 << 20)})


def _warm_up(spark: Any, ship: Any, cores: int) -> None:
    """One tiny job with a partition per core: starts each Python worker and loads the model there."""
    from sentikit.spark.scoring import score_with

    df = spark.createDataFrame([("warm up",)] * cores, "text string").repartition(cores)
    score_with(df, ship(df)).write.format("noop").mode("overwrite").save()


def run_spark_worker(model_dir: Path, data: Path, master: str, output_format: str = "json") -> dict[str, Any]:
    from sentikit.spark import score_files
    from sentikit.spark.scoring import broadcast_model

    model = load_model(model_dir)
    started = time.perf_counter()
    spark = _session(master)
    session = time.perf_counter()
    cores = spark.sparkContext.defaultParallelism
    _warm_up(spark, partial(broadcast_model, model=model), cores)
    warm, cpu = time.perf_counter(), tree_cpu_seconds()
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        summary = score_files(str(data), str(Path(tmp) / "scored"), model, session=spark, output_format=output_format)
        job_cpu = tree_cpu_seconds() - cpu  # before stop: the JVM and the Python workers are still alive
    spark.stop()
    return {"rows": summary.rows, "session": session - started, "warm": warm - session, "startup": warm - started,
            "job": summary.seconds, "job_cpu": job_cpu, "partitions": summary.partitions, "cores": cores}


@dataclass(frozen=True)
class SparkFilesModel:
    """arrow+file: the model folder shipped with SparkContext.addFile, read back on the executor."""

    key: str
    name: str

    def files(self) -> dict[str, bytes]:
        from pyspark import SparkFiles

        folder = Path(SparkFiles.get(self.name))
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _pandas_batches(source: Any, text_col: str, score_name: str, label_name: str, frames: Iterator[Any]) -> Iterator[Any]:
    from sentikit.spark.scoring import executor_model, score_values

    model = executor_model(source)
    for frame in frames:
        scores, labels = score_values(model, frame[text_col].tolist(), 0.5)
        frame[score_name] = scores
        frame[label_name] = labels
        yield frame


def run_choice_worker(model_dir: Path, data: Path, variant: str) -> dict[str, Any]:
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    from sentikit.spark.scoring import InlineFiles, broadcast_model, files_key, model_files, score_with

    model = load_model(model_dir)
    spark = _session("local[2]")
    staged = Path(tempfile.mkdtemp(dir=WORK))

    def ship(df: Any) -> Any:
        if variant.endswith("broadcast"):
            return broadcast_model(df, model)
        files = model_files(model)
        if variant == "arrow+closure":
            return InlineFiles(files_key(files), files)
        folder = staged / f"model-{files_key(files)}"
        if not folder.exists():
            folder.mkdir()
            for name, content in files.items():
                (folder / name).write_bytes(content)
            spark.sparkContext.addFile(str(folder), recursive=True)
        return SparkFilesModel(files_key(files), folder.name)

    def scored(df: Any) -> Any:
        if variant.startswith("pandas"):
            fields = [*df.schema.fields, StructField("score", DoubleType()), StructField("label", StringType())]
            return df.mapInPandas(partial(_pandas_batches, ship(df), "text", "score", "label"), StructType(fields))
        return score_with(df, ship(df))

    cores = spark.sparkContext.defaultParallelism
    source = spark.read.schema("id LONG, source STRING, text STRING").json(str(data))
    source.write.format("noop").mode("overwrite").save()  # JVM warm-up, the same for every variant
    started = time.perf_counter()
    warm_df = spark.createDataFrame([("warm up",)] * cores, "text string").repartition(cores)
    scored(warm_df).write.format("noop").mode("overwrite").save()
    warm, cpu = time.perf_counter(), tree_cpu_seconds()
    scored(source).write.format("noop").mode("overwrite").save()
    done = time.perf_counter()
    job_cpu = tree_cpu_seconds() - cpu
    rows = source.count()
    spark.stop()
    shutil.rmtree(staged, ignore_errors=True)
    return {"rows": rows, "warm": warm - started, "job": done - warm, "job_cpu": job_cpu}


# --- driver --------------------------------------------------------------------------------------

def measure(args: list[str]) -> dict[str, Any]:
    """Run one worker in a fresh process and return its figures."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{result.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - started
    return figures


def main_table(model_dir: Path, rows: int, rounds: int, spark_format: str) -> str:
    data = posts_file(rows)
    lines = [
        f"Data: {rows:,} posts (bundled corpus cycled), {data.stat().st_size / 1e6:.0f} MB JSON lines; model {model_dir}; "
        f"output: score --input JSON lines, Spark {spark_format}; load average before: {os.getloadavg()[0]:.2f}.",
        "",
        "| round | scorer | posts/s after start-up | × score --input | posts per CPU-second | start-up s | job s | job CPU s | partitions |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios = []
    for number in range(1, rounds + 1):
        cli = measure(["cli", str(model_dir), str(data)])
        spark1 = measure(["spark", str(model_dir), str(data), "local[1]", spark_format])
        spark2 = measure(["spark", str(model_dir), str(data), "local[2]", spark_format])
        base = cli["rows"] / cli["job"]
        for name, r in (("score --input", cli), ("spark local[1]", spark1), ("spark local[2]", spark2)):
            rate = r["rows"] / r["job"]
            startup = f"{r['startup']:.1f}" + (f" ({r['session']:.1f} session + {r['warm']:.1f} first job)" if "session" in r else " (model load)")
            lines.append(f"| {number} | {name} | {rate:,.0f} | {rate / base:.2f} | {r['rows'] / r['job_cpu']:,.0f} | {startup} | "
                         f"{r['job']:.1f} | {r['job_cpu']:.0f} | {r.get('partitions', '-')} |")
        ratios.append((spark2["rows"] / spark2["job"]) / (spark1["rows"] / spark1["job"]))
        print("\n".join(lines[-3:]), file=sys.stderr, flush=True)
    lines += ["", "Scaling local[1] -> local[2] (same round): " + ", ".join(f"{r:.2f}x" for r in ratios)]
    return "\n".join(lines)


VARIANTS = ["arrow+broadcast", "pandas+broadcast", "arrow+file", "arrow+closure"]


def choices_table(model_dir: Path, rows: int, rounds: int, variants: list[str]) -> str:
    data = posts_file(rows)
    lines = [
        f"Choices: {rows:,} posts, local[2], read JSON lines + score, `noop` sink; first job = ship + load the model on 2 workers.",
        "",
        "| round | variant | posts/s | × arrow+broadcast | posts per CPU-second | first job s (ship + load) | job CPU s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number in range(1, rounds + 1):
        results = {v: measure(["choice", str(model_dir), str(data), v]) for v in variants}
        base = results[VARIANTS[0]]["rows"] / results[VARIANTS[0]]["job"] if VARIANTS[0] in results else 1.0
        for variant, r in results.items():
            rate = r["rows"] / r["job"]
            lines.append(f"| {number} | {variant} | {rate:,.0f} | {rate / base:.2f} | {r['rows'] / r['job_cpu']:,.0f} | "
                         f"{r['warm']:.2f} | {r['job_cpu']:.0f} |")
        print("\n".join(lines[-len(variants):]), file=sys.stderr, flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", type=Path, help="a model directory (default: DEFAULT_PARAMS on the bundled corpus)")
    parser.add_argument("--choices", action="store_true", help="measure Arrow vs pandas and broadcast vs file instead")
    parser.add_argument("--choices-rows", type=int, default=200_000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="choices to run, in this order (run order matters on a busy machine)")
    parser.add_argument("--spark-format", choices=["json", "parquet", "csv"], default="json",
                        help="what Spark writes (default json: the same format as score --input)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, model_dir, data, *rest = args.worker
        workers = {"cli": run_cli_worker, "spark": run_spark_worker, "choice": run_choice_worker}
        print(json.dumps(workers[kind](Path(model_dir), Path(data), *rest)))
        return
    model_dir: Path = args.model or default_model()
    table = choices_table(model_dir, args.choices_rows, args.rounds, args.variants.split(",")) if args.choices else main_table(model_dir, args.rows, args.rounds, args.spark_format)
    command = "bench/spark.py " + " ".join(sys.argv[1:])
    report = f"### `{command.strip()}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores)\n\n{table}\n"
    print(report)
    OUT.mkdir(exist_ok=True)
    with open(OUT / "spark.md", "a", encoding="utf-8") as handle:
        handle.write(report + "\n")


if __name__ == "__main__":
    main()
