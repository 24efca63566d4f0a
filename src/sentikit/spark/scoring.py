"""``score(df)``: a score and a label column added to a Spark DataFrame, batch or streaming.

How it runs: the model directory's serving files (manifest + exported scorer, as the container image
ships them) are read once on the driver and broadcast; each executor's Python worker writes them
into a private folder once, loads them with :func:`sentikit.model.load_model` (checksums verified,
so the scores are the local engine's own, calibration included) and keeps the model for every later
task. Partitions are scored batch by batch through Arrow (``mapInArrow``): no pandas conversion,
and the engine scores each Arrow batch (``spark.sql.execution.arrow.maxRecordsPerBatch`` rows) in one
call. ``mapInArrow`` is a narrow transformation, so the input's partitioning and other columns are
kept, and it works on streaming DataFrames.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Protocol, Union

from ..config import Settings
from ..errors import InvalidInputError, ModelIntegrityError
from ..model import MANIFEST_FILE, PIPELINE_FILE, SCORER_FILE, SentimentModel, load_model, resolve_model
from ..score import _column_names, check_threshold, label_for
from .runtime import require_pyspark

if TYPE_CHECKING:
    import pyarrow
    from pyspark.sql import DataFrame

ModelRef = Union[None, str, "os.PathLike[str]", SentimentModel]


class ModelFiles(Protocol):
    """How the executors get the model's files: picklable, small, resolved on the executor."""

    @property
    def key(self) -> str: ...

    def files(self) -> dict[str, bytes]: ...


@dataclass(frozen=True)
class BroadcastFiles:
    """The model's files in a Spark broadcast variable: sent to each executor once."""

    key: str
    broadcast: Any  # pyspark.Broadcast[dict[str, bytes]]

    def files(self) -> dict[str, bytes]:
        return dict(self.broadcast.value)


def score(
    df: "DataFrame",
    model: ModelRef = None,
    text_col: str = "text",
    threshold: float = 0.5,
    *,
    score_col: Optional[str] = None,
    label_col: Optional[str] = None,
    workspace: Union[str, "os.PathLike[str]", None] = None,
) -> "DataFrame":
    """``df`` with a score (double, 0.0-1.0) and a label (``positive``/``negative``) column added.

    Args:
        df: a batch or streaming DataFrame with a text column.
        model: a model directory, ``NAME``, ``NAME:VERSION`` (in ``workspace``) or a loaded
            :class:`~sentikit.model.SentimentModel`; ``None`` is the latest default model. It is read
            on the driver only: executors get it from Spark.
        text_col: the column to score (found case-insensitively, as Spark resolves names).
        threshold: scores at or above it are labelled positive.
        score_col, label_col: names of the new columns. By default ``score``/``label``, or
            ``sentikit_score``/``sentikit_label`` when the input already has either (as
            ``sentikit score --input`` does).
        workspace: where model names are looked up (default ``models``).

    Rows whose text is null or not a string get a null score and label; every other row is scored
    exactly as the local engine scores it (blank strings included, as ``score --input`` does).

    Raises:
        InvalidInputError: no such text column, a bad threshold or clashing column names.
        EnvironmentNotReadyError: PySpark, pyarrow or pandas is missing.
    """
    require_pyspark()
    check_threshold(threshold)
    loaded = _resolve(model, workspace)
    source = broadcast_model(df, loaded)
    return score_with(df, source, text_col=text_col, threshold=threshold, score_col=score_col, label_col=label_col)


def score_with(
    df: "DataFrame",
    source: ModelFiles,
    *,
    text_col: str = "text",
    threshold: float = 0.5,
    score_col: Optional[str] = None,
    label_col: Optional[str] = None,
) -> "DataFrame":
    """:func:`score` with the model's files already shipped (``source``, e.g. :func:`broadcast_model`)."""
    from pyspark.sql.types import BinaryType, DoubleType, StringType, StructField, StructType

    check_threshold(threshold)
    text_index = _column_index(df.columns, text_col)
    text_field = df.schema.fields[text_index]
    if not isinstance(text_field.dataType, (StringType, BinaryType)):
        warnings.warn(
            f"column {text_field.name!r} is {text_field.dataType.simpleString()}, not text: every score will be null",
            stacklevel=3,
        )
    score_name, label_name = output_columns(df.columns, score_col, label_col)
    schema = StructType(
        [*df.schema.fields, StructField(score_name, DoubleType(), True), StructField(label_name, StringType(), True)]
    )
    return df.mapInArrow(partial(_score_batches, source, text_index, threshold, score_name, label_name), schema)


def output_columns(columns: list[str], score_col: Optional[str], label_col: Optional[str]) -> tuple[str, str]:
    """The names of the score and label columns for a frame with ``columns`` (compared case-insensitively)."""
    taken = {c.casefold() for c in columns}
    default_score, default_label = _column_names(dict.fromkeys(taken))
    names = (score_col or default_score, label_col or default_label)
    if names[0].casefold() == names[1].casefold():
        raise InvalidInputError(f"the score and label columns must differ, both are {names[0]!r}")
    for name in names:
        if name.casefold() in taken:
            raise InvalidInputError(f"the input already has a column {name!r}: choose another name for sentikit's column")
    return names


@dataclass(frozen=True)
class InlineFiles:
    """The model's files inside the pickled scoring function itself: for Spark Connect, which has no
    SparkContext to broadcast with (the plan carries the function to the server once per query)."""

    key: str
    data: dict[str, bytes]

    def files(self) -> dict[str, bytes]:
        return self.data


def broadcast_model(df: "DataFrame", model: SentimentModel) -> ModelFiles:
    """Broadcast ``model``'s serving files with ``df``'s SparkContext (once per executor); on Spark
    Connect, where there is no SparkContext, carry them in the function instead.

    Both ship the files once per Python worker, at the same speed (``bench/spark.py --choices``):
    classic PySpark broadcasts a pickled function larger than
    ``spark.broadcast.UDFCompressionThreshold`` (1 MB) by itself. A broadcast of its own is kept for
    its lifetime: one per call, released with its query, so a model re-trained in the same session is
    never served from a stale copy."""
    files = model_files(model)
    try:
        context = df.sparkSession.sparkContext
    except Exception:  # pyspark.sql.connect raises PySparkNotImplementedError (JVM_ATTRIBUTE_NOT_SUPPORTED)
        return InlineFiles(key=files_key(files), data=files)
    return BroadcastFiles(key=files_key(files), broadcast=context.broadcast(files))


def model_files(model: SentimentModel) -> dict[str, bytes]:
    """What a model directory needs to score, by file name: the manifest and every file it lists
    except the scikit-learn pipeline (the container image ships the same). The scorer is loaded
    once here, so a corrupt or tampered model fails on the driver, before any job starts."""
    if not (model.path / SCORER_FILE).is_file():
        raise ModelIntegrityError(
            f"{model.path} has no {SCORER_FILE} (the exported scorer executors run); retrain it with this version of sentikit"
        )
    model.scorer  # verifies the checksum and parses the scorer
    names = [MANIFEST_FILE, *(n for n in model.manifest["files"] if n not in (PIPELINE_FILE, MANIFEST_FILE))]
    return {name: (model.path / name).read_bytes() for name in names}


def files_key(files: dict[str, bytes]) -> str:
    """A content hash of a model's files: the executors' cache key."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:32]


def _resolve(model: ModelRef, workspace: Union[str, "os.PathLike[str]", None]) -> SentimentModel:
    if isinstance(model, SentimentModel):
        return model
    defaults = Settings()
    return resolve_model(
        os.fspath(model) if model is not None else None,
        Path(workspace) if workspace is not None else defaults.workspace_path,
        defaults.model_name,
    )


def _column_index(columns: list[str], wanted: str) -> int:
    if wanted in columns:
        return columns.index(wanted)
    folded = [c.casefold() for c in columns]
    if wanted.casefold() in folded:
        return folded.index(wanted.casefold())
    raise InvalidInputError(f"no column {wanted!r} to score (columns: {', '.join(columns) or 'none'})")


# --- executor side ---------------------------------------------------------------------------

# One loaded model per Python worker process and model: Spark reuses workers across tasks
# (spark.python.worker.reuse), so the scorer and its word caches are built once, not per task.
_LOADED: dict[str, SentimentModel] = {}


def executor_model(source: ModelFiles) -> SentimentModel:
    """The model of ``source``, materialised and loaded once per worker process."""
    found = _LOADED.get(source.key)
    if found is None:
        found = load_model(_materialise(source))
        found.scorer  # load (and verify) now, not in the middle of the first batch
        _LOADED[source.key] = found
    return found


def _materialise(source: ModelFiles) -> Path:
    """The model's files in a folder of this executor's (Spark's per-application files folder,
    removed by Spark with the application); written under a temporary name, then renamed."""
    from pyspark import SparkFiles

    try:
        root = Path(SparkFiles.getRootDirectory())
    except Exception:  # not inside a Spark worker (e.g. a direct call in tests)
        root = Path(tempfile.gettempdir())
    target = root / f"sentikit-model-{source.key}"
    if (target / MANIFEST_FILE).is_file():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".sentikit-model-", dir=root))
    for name, data in source.files().items():
        (staging / name).write_bytes(data)
    try:
        os.rename(staging, target)
    except OSError:  # another worker of this executor got there first: use its copy
        for child in staging.iterdir():
            child.unlink()
        staging.rmdir()
    return target


def _score_batches(
    source: ModelFiles,
    text_index: int,
    threshold: float,
    score_name: str,
    label_name: str,
    batches: Iterator["pyarrow.RecordBatch"],
) -> Iterator["pyarrow.RecordBatch"]:
    import pyarrow as pa

    model = executor_model(source)
    for batch in batches:
        scores, labels = score_values(model, batch.column(text_index).to_pylist(), threshold)
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(scores, pa.float64()), pa.array(labels, pa.string())],
            names=[*batch.schema.names, score_name, label_name],
        )


def score_values(model: SentimentModel, values: list[Any], threshold: float) -> tuple[list[Optional[float]], list[Optional[str]]]:
    """Scores and labels for one batch of column values; None for a value that is not text."""
    texts = [_text(v) for v in values]
    valid = [t for t in texts if t is not None]
    scored = iter(model.score(valid)) if valid else iter(())
    scores = [next(scored) if t is not None else None for t in texts]
    labels = [label_for(s, threshold) if s is not None else None for s in scores]
    return scores, labels


def _text(value: Any) -> Optional[str]:
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None
