"""``sentikit score --spark``: the score command's Spark path (options, progress bar, summary)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from . import render as output
from ..config import Settings
from ..errors import InvalidInputError

SparkFlag = Annotated[
    bool, typer.Option("--spark", help="Score --input with Apache Spark (pip install 'sentikit\\[spark]'); --output is a folder.")
]
MasterOption = Annotated[
    Optional[str], typer.Option("--master", help="With --spark: the Spark master URL, e.g. spark://host:7077 \\[default: local\\[*]].")
]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="With --spark: replace an existing --output folder (one a previous --spark run wrote) once the new one is complete.")
]
FormatOption = Annotated[
    Optional[str], typer.Option("--format", help="With --spark: the output format, parquet, csv or json \\[default: parquet].")
]


def score_with_spark(
    s: Settings,
    *,
    spark: bool,
    model: Optional[str],
    texts: Optional[list[str]],
    url: Optional[str],
    input_file: Optional[str],
    output_dir: Optional[str],
    output_format: Optional[str],
    master: Optional[str],
    text_column: Optional[str],
    as_json: bool,
    overwrite: bool = False,
) -> None:
    """Check the flag combination, run :func:`sentikit.spark.score_files`, render its summary."""
    if not spark:
        raise InvalidInputError("--master, --format and --overwrite go with --spark")
    if url or texts:
        raise InvalidInputError("--spark scores files with a local model: use --input PATH without --url or texts")
    if not input_file or not output_dir:
        raise InvalidInputError("--spark needs --input PATH_OR_GLOB and --output FOLDER")
    from ..model import resolve_model
    from ..spark import score_files

    loaded = resolve_model(model, s.workspace_path, s.model_name)

    with _task_progress("scoring with Spark") as on_progress:
        summary = score_files(input_file, output_dir, loaded, master=master, output_format=output_format or "parquet",
                              text_column=text_column, threshold=s.threshold, overwrite=overwrite,
                              on_progress=on_progress)
    render_spark_summary(summary, as_json=as_json)


@contextmanager
def _task_progress(description: str) -> Iterator[Optional[Callable[[int, int], None]]]:
    """A bar of Spark tasks done out of all, on a terminal only; yields ``update(done, total)``."""
    if not output.show_progress():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"), TimeElapsedColumn())
    with Progress(*columns, console=output.console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def render_spark_summary(summary: Any, *, as_json: bool) -> None:
    if as_json:
        output.emit_json(summary)
        return
    share, rate = summary.positive_share, summary.rows_per_second
    mean = "—" if summary.mean_score is None else f"{summary.mean_score:.4f}"
    positives = f"{summary.positives:,} positive" + (f" ({share:.1%})" if share is not None else "")
    startup = f"; Spark start-up {summary.startup_seconds:.1f} s" if summary.startup_seconds else ""
    output.console.print(
        f"scored {summary.rows:,} rows in {summary.seconds:.1f} s ({rate:,.0f} rows/s{startup}): {positives}, "
        f"mean score {mean} → {summary.output}",
        markup=False,
    )
    missing = summary.rows - summary.scored
    if missing:
        rows = "1 row" if missing == 1 else f"{missing:,} rows"
        output.console.print(f"{rows} had no text (null or not a string): null score and label", markup=False)
