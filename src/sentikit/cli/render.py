"""Rendering shared by every command: results on stdout (JSON for machines, text and tables for people),
progress and messages on stderr."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._json import to_jsonable
from ..evaluate import format_metric

# stdout carries a command's result (scores, the tables of evaluate/models/explain, --json
# documents); progress and messages go to stderr, so `sentikit score ... > out.txt` stays clean.
_NO_COLOR = bool(os.environ.get("NO_COLOR")) or None
console = Console(stderr=True, no_color=_NO_COLOR, highlight=False)
out_console = Console(no_color=_NO_COLOR, highlight=False)
# Piped tables are read by people in logs and CI output: do not squeeze them to 80 columns.
for _c in (console, out_console):
    if not _c.is_terminal and "COLUMNS" not in os.environ:
        _c.width = 160


def emit_json(value: Any) -> None:
    """Write exactly one JSON document to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    """One ``warning: …`` line on stderr (the message is shown as is, not as Rich markup)."""
    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def show_progress() -> bool:
    """Progress bars only on an interactive terminal."""
    return console.is_terminal


# --- progress ------------------------------------------------------------------------------

@contextmanager
def status(initial: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal (plain lines otherwise); yields a callback that updates its text."""
    if not show_progress():
        yield lambda message: None
        return
    with console.status(initial) as spinner:
        yield lambda message: spinner.update(message)


@contextmanager
def counter(description: str) -> Iterator[Callable[[int], None]]:
    """A live count and rate of processed items, on a terminal only; yields ``advance(n)``."""
    if not show_progress():
        yield lambda n: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda n: progress.advance(task, n)


# --- renderers, one per result type ------------------------------------------------------------

def render_train(result: Any, *, as_json: bool) -> None:
    model = result.model
    if as_json:
        emit_json({"model": model.reference, "path": str(model.path), "seconds": round(result.seconds, 2),
                   "train_rows": result.train_rows, "validation_rows": result.validation_rows,
                   "metrics": result.metrics, "params": result.params})
        return
    console.print(f"[bold green]trained[/] {model.reference} in {result.seconds:.1f}s "
                  f"({result.train_rows:,} training rows, {result.validation_rows:,} validation rows)")
    console.print(_metrics_table([("validation", result.metrics)]))
    console.print(f"saved to {model.path}", markup=False)
    print(model.reference)


def render_models(manifests: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        emit_json([{k: m.get(k) for k in ("name", "version", "created", "path", "metrics")} for m in manifests])
        return
    if not manifests:
        console.print("no models yet: train one with `sentikit train`")
        return
    table = Table("model", "created", "rows", "accuracy", "ROC AUC", "path", box=box.SIMPLE)
    for m in manifests:
        metrics = m.get("metrics", {})
        table.add_row(f"{m['name']}:{m['version']}", str(m.get("created", "")), f"{m.get('data', {}).get('rows', 0):,}",
                      format_metric(metrics.get("accuracy")), format_metric(metrics.get("roc_auc")), m["path"])
    out_console.print(table)


def render_evaluation(report: Any, *, as_json: bool) -> None:
    if as_json:
        emit_json(report)
        return
    sections = [(f.path, f.metrics) for f in report.files]
    if len(sections) > 1:
        sections.append(("all files", report.metrics))
    out_console.print(f"model {report.model}, threshold {report.threshold}")
    out_console.print(_metrics_table(sections))
    c = report.metrics["confusion"]
    matrix = Table("", "predicted negative", "predicted positive", box=box.SIMPLE, title="confusion matrix")
    matrix.add_row("actual negative", f"{c['tn']:,}", f"{c['fp']:,}")
    matrix.add_row("actual positive", f"{c['fn']:,}", f"{c['tp']:,}")
    out_console.print(matrix)
    if report.report_dir:
        out_console.print(f"report: {Path(report.report_dir) / 'index.html'}", markup=False)


def render_scores(results: list[Any], *, as_json: bool) -> None:
    if as_json:
        emit_json([{"text": r.text, "score": round(r.score, 6), "label": r.label} for r in results])
        return
    for r in results:
        line = f"{r.score:.4f}\t{r.label}"
        sys.stdout.write((line + f"\t{r.text}" if len(results) > 1 else line) + "\n")


def render_file_summary(summary: Any, *, as_json: bool) -> None:
    if as_json and summary.output != "-":
        emit_json(summary)
        return
    mean = "—" if summary.mean_score is None else f"{summary.mean_score:.4f}"
    console.print(f"scored {summary.rows:,} rows ({summary.positives:,} positive, mean score {mean})"
                  + (f" → {summary.output}" if summary.output != "-" else ""))


def render_explanation(explanation: Any, *, as_json: bool) -> None:
    data = to_jsonable(explanation)
    if as_json:
        emit_json(data)
        return
    out_console.print(f"score {data['score']:.4f}  (logit {data['logit']:+.4f} = intercept {data['intercept']:+.4f} + contributions)")
    table = Table("pushed", "n-gram", "contribution", box=box.SIMPLE)
    for direction, key, colour in (("up", "positives", "green"), ("down", "negatives", "red")):
        for item in data[key]:
            table.add_row(direction, item["ngram"], f"[{colour}]{item['contribution']:+.4f}[/]")
    out_console.print(table)


def _metrics_table(sections: list[tuple[str, dict[str, Any]]]) -> Table:
    names = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
    headers = ("accuracy", "prec.", "recall", "F1", "ROC AUC", "log loss", "Brier")
    table = Table(box=box.SIMPLE)
    table.add_column("data", overflow="fold")
    for header in ("rows", *headers):
        table.add_column(header, justify="right")
    for label, metrics in sections:
        table.add_row(label, f"{metrics['rows']:,}", *(format_metric(metrics.get(n)) for n in names))
    return table
