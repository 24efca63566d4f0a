"""``score_files``: what ``sentikit score --spark`` runs: read files Spark can read, score, write a folder.

Input: CSV, TSV, JSON Lines or Parquet, a path, a folder or a glob, local or anything Spark reads
(``abfss://``, ``s3a://``, ``dbfs:/``). Output: a folder of part files (Parquet, CSV or JSON Lines),
one per input partition. A local output folder is written under a temporary name and renamed into
place when the job succeeds, so a failed or interrupted run leaves nothing half-written (with
``overwrite``, a previous output is swapped out only then); elsewhere Spark's own output committer
does the same. A JSON text field that is a number or true/false is scored as its text, and one that
is an object or an array is refused, as ``score --input`` reads JSON Lines. The summary is gathered while the job writes
(``DataFrame.observe``): one pass over the data.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import urlparse

from ..data import TEXT_COLUMNS
from ..data.formats import _pick
from ..errors import DataError, InvalidInputError
from ..model import SentimentModel
from ..score import POSITIVE
from .runtime import build_session, first_line, require_pyspark
from .scoring import broadcast_model, score_with

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

OUTPUT_FORMATS = ("parquet", "csv", "json")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "json", ".ndjson": "json", ".json": "json",
                   ".parquet": "parquet", ".parq": "parquet"}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4", ".snappy", ".deflate")
# Spark's CSV defaults differ from RFC 4180 (backslash escapes, one line per record): read CSV as
# `score --input` and spreadsheets write it, with "" inside quotes and quoted newlines.
_CSV_OPTIONS = {"header": "true", "multiLine": "true", "escape": '"', "mode": "PERMISSIVE"}
ProgressCallback = Callable[[int, int], None]


@dataclass
class SparkScoreSummary:
    """What ``score --spark`` read, wrote and measured."""

    input: str
    output: str
    format: str
    master: str
    text_column: str
    score_column: str
    label_column: str
    rows: int
    scored: int  # rows - scored = rows whose text was null or not a string (null score)
    positives: int
    mean_score: Optional[float]
    partitions: int
    seconds: float  # the scoring job, from submission to the output in place
    startup_seconds: float  # starting Spark (JVM, session); 0 when a running session was used

    @property
    def positive_share(self) -> Optional[float]:
        return self.positives / self.scored if self.scored else None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields plus the derived figures, for ``--json``."""
        return {**dataclasses.asdict(self), "positive_share": self.positive_share,
                "rows_per_second": round(self.rows_per_second, 1)}


def input_format(path: str) -> str:
    """``csv``, ``tsv``, ``json`` (JSON Lines) or ``parquet``, from a path's (or a local folder's files') names.

    Raises:
        DataError: the format cannot be told.
    """
    found = _format_of_name(path.rstrip("/"))
    if found:
        return found
    local = _local(path)
    if local is not None:
        folder = Path(local)
        names = glob.glob(local) if not folder.is_dir() else [str(folder)]
        for name in names:
            candidates = [Path(name)] if not Path(name).is_dir() else sorted(Path(name).rglob("*"))
            for candidate in candidates:
                if candidate.is_file() and not candidate.name.startswith((".", "_")):
                    found = _format_of_name(candidate.name)
                    if found:
                        return found
    raise DataError(f"{path}: cannot tell the input format; name the files .csv, .tsv, .jsonl or .parquet")


def read_input(session: "SparkSession", path: str, fmt: str) -> "DataFrame":
    """``path`` read by Spark as ``fmt`` (every CSV column as text, as ``score --input`` keeps them)."""
    from pyspark.errors import AnalysisException

    reader = session.read
    try:
        if fmt in ("csv", "tsv"):
            return reader.options(**_CSV_OPTIONS, sep="\t" if fmt == "tsv" else ",").csv(path)
        if fmt == "json":
            return reader.json(path)
        return reader.parquet(path)
    except AnalysisException as exc:
        raise DataError(f"{path}: Spark cannot read it as {fmt} ({first_line(exc)})") from None


def score_files(
    input_path: str,
    output_path: str,
    model: SentimentModel,
    *,
    master: Optional[str] = None,
    session: Optional["SparkSession"] = None,
    output_format: str = "parquet",
    text_column: Optional[str] = None,
    threshold: float = 0.5,
    overwrite: bool = False,
    on_progress: Optional[ProgressCallback] = None,
) -> SparkScoreSummary:
    """Score every row of ``input_path`` with ``model`` and write ``output_path`` (a folder).

    Starts a Spark session on ``master`` (default ``local[*]``) and stops it at the end, unless
    ``session`` is given or one is already running in this process (then that one is used, as is).
    ``on_progress(done_tasks, total_tasks)`` is called while the job runs (Spark's status tracker).
    ``overwrite`` replaces an existing output folder once the new one is complete; locally only a
    folder Spark wrote (with its ``_SUCCESS`` marker) is ever replaced.

    Raises:
        InvalidInputError: a bad format, threshold, or an output folder that already exists (without
            ``overwrite``, or not one Spark wrote).
        DataError: the input is missing, unreadable, has no text column, or its JSON text field is
            an object or an array.
        EnvironmentNotReadyError: PySpark or Java is missing, or Spark does not start.
    """
    if output_format not in OUTPUT_FORMATS:
        raise InvalidInputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    if input_path == "-":
        raise InvalidInputError("--spark reads files or folders, not stdin: pass --input PATH")
    fmt = input_format(input_path)
    local_input = _local(input_path)
    if local_input is not None and not glob.glob(local_input):
        raise DataError(f"{input_path}: no such file or folder")
    _check_output(output_path, input_path, overwrite=overwrite)
    require_pyspark()
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    own_session = session is None and SparkSession.getActiveSession() is None
    spark = session or SparkSession.getActiveSession() or build_session(master, app_name="sentikit score")
    startup = time.perf_counter() - started if own_session else 0.0
    master_used = str(spark.sparkContext.master)
    try:
        started = time.perf_counter()
        df = read_input(spark, input_path, fmt)
        column = _pick(df.columns, text_column, TEXT_COLUMNS, "text", input_path, "jsonl" if fmt == "json" else "csv")
        if fmt == "json":
            df = _json_text_column(spark, df, column, input_path)
        scored = score_with(df, broadcast_model(df, model), text_col=column, threshold=threshold)
        score_name, label_name = scored.columns[-2:]
        stats, partitions = _write(spark, scored, score_name, label_name, output_path, output_format, on_progress,
                                   overwrite=overwrite)
        seconds = time.perf_counter() - started
    finally:
        if own_session:
            spark.stop()
    return SparkScoreSummary(
        input=input_path,
        output=output_path,
        format=output_format,
        master=master_used,
        text_column=column,
        score_column=score_name,
        label_column=label_name,
        rows=int(stats.get("rows") or 0),
        scored=int(stats.get("scored") or 0),
        positives=int(stats.get("positives") or 0),
        mean_score=float(stats["mean"]) if stats.get("mean") is not None else None,
        partitions=partitions,
        seconds=seconds,
        startup_seconds=startup,
    )


def _json_text_column(spark: "SparkSession", df: "DataFrame", column: str, input_path: str) -> "DataFrame":
    """The JSON input with its text field as ``score --input`` reads it: a number or true/false as
    the text it is written as (read again with that field as a string, so 42 stays "42", not the
    "42.0" of a cast), an object or an array refused (Spark reads a field that is always one as a
    struct, map or array)."""
    from pyspark.sql.types import ArrayType, BooleanType, MapType, NumericType, StringType, StructField, StructType

    kind = df.schema[column].dataType
    if isinstance(kind, (StructType, MapType, ArrayType)):
        what = "an array" if isinstance(kind, ArrayType) else "an object"
        raise DataError(f"{input_path}: {column!r} is {what}, not a string (score the field that holds the text)")
    if not isinstance(kind, (NumericType, BooleanType)):
        return df
    schema = StructType([StructField(f.name, StringType(), True) if f.name == column else f for f in df.schema.fields])
    return spark.read.schema(schema).json(input_path)


def _write(
    spark: "SparkSession", scored: "DataFrame", score_name: str, label_name: str, output_path: str, output_format: str,
    on_progress: Optional[ProgressCallback], *, overwrite: bool = False,
) -> tuple[dict[str, Any], int]:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observation = Observation("sentikit")
    observed = scored.observe(
        observation,
        F.count(F.lit(1)).alias("rows"),
        F.count(F.col(score_name)).alias("scored"),
        F.sum((F.col(label_name) == POSITIVE).cast("long")).alias("positives"),
        F.avg(F.col(score_name)).alias("mean"),
    )
    local = _local(output_path)
    target = _staging_name(local) if local is not None else output_path
    writer = observed.write.mode("overwrite" if overwrite and local is None else "errorifexists")
    if output_format == "csv":
        writer = writer.options(header="true", escape='"')
    group = f"sentikit-{uuid.uuid4().hex[:12]}"
    context = spark.sparkContext
    context.setJobGroup(group, "sentikit score", interruptOnCancel=True)
    done = threading.Event()
    poller = threading.Thread(target=_poll_progress, args=(context, group, on_progress, done), daemon=True)
    if on_progress:
        poller.start()
    try:
        writer.format(output_format).save(target)
        if local is not None:
            _move_into_place(target, local)
    except BaseException:
        if local is not None:
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        done.set()
        if poller.is_alive():
            poller.join()
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return dict(observation.get), scored.rdd.getNumPartitions()


def _poll_progress(context: Any, group: str, on_progress: ProgressCallback, done: threading.Event) -> None:
    tracker = context.statusTracker()
    while True:
        finished = done.wait(0.25)
        total = completed = 0
        for job_id in tracker.getJobIdsForGroup(group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                stage = tracker.getStageInfo(stage_id)
                if stage:
                    total += stage.numTasks
                    completed += stage.numCompletedTasks
        if total:
            on_progress(total if finished else completed, total)
        if finished:
            return


def _move_into_place(staging: str, target: str) -> None:
    """Rename the finished ``staging`` folder to ``target``; a previous output there (checked by
    :func:`_check_output`) is renamed aside first and removed once the new one is in place."""
    previous = None
    if os.path.lexists(target):
        previous = _staging_name(target).replace(".incomplete-", ".replaced-")
        os.rename(target, previous)
    try:
        os.rename(staging, target)
    except BaseException:
        if previous is not None:
            os.rename(previous, target)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _check_output(output_path: str, input_path: str, *, overwrite: bool = False) -> None:
    local = _local(output_path)
    if local is None:
        return
    target = Path(local)
    if target.exists() and not overwrite:
        raise InvalidInputError(f"{output_path} already exists: remove it, choose another --output folder, or pass --overwrite")
    if target.exists() and (target.is_symlink() or not (target / "_SUCCESS").is_file()):
        raise InvalidInputError(f"{output_path} is not a folder Spark wrote (no _SUCCESS file): --overwrite replaces "
                                "only a previous --spark output")
    if not target.resolve().parent.is_dir():
        raise InvalidInputError(f"output directory {target.parent} does not exist")
    local_input = _local(input_path)
    if local_input is not None and target.resolve() in [Path(p).resolve() for p in glob.glob(local_input)]:
        raise InvalidInputError("--output must differ from --input")


def _staging_name(output_path: str) -> str:
    target = Path(output_path)
    return str(target.parent / f".{target.name}.incomplete-{uuid.uuid4().hex[:8]}")


def _format_of_name(name: str) -> Optional[str]:
    lowered = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lowered.endswith(suffix):
            lowered = lowered[: -len(suffix)]
            break
    return _SUFFIX_FORMATS.get(os.path.splitext(lowered)[1])


def _local(path: str) -> Optional[str]:
    """The local file-system path of ``path`` (``file:`` URIs included), None for any other scheme."""
    parsed = urlparse(path)
    if parsed.scheme == "file":
        return parsed.path
    return path if len(parsed.scheme) <= 1 else None  # "C:" is a drive letter, not a scheme
