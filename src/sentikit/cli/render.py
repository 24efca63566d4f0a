"""Rendering shared by every command: results on stdout (JSON for machines, text and tables for people),
progress and messages on stderr."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .._json import to_jsonable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    # stdout carries a command's result (scores, the tables of evaluate/models/explain, --json
    # documents); progress and messages go to stderr, so `sentikit score ... > out.txt` stays clean.
    console: Console
    out_console: Console


def __getattr__(name: str) -> Any:
    """``console`` and ``out_console`` are made on first use: importing rich costs ~40 ms, and
    ``sentikit serve`` and ``sentikit score TEXT`` print without it."""
    if name == "console":
        return _stderr()
    if name == "out_console":
        return _stdout()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_consoles: list[Console] = []


def _made_consoles() -> list[Console]:
    if not _consoles:
        from rich.console import Console

        no_color = bool(os.environ.get("NO_COLOR")) or None
        _consoles.extend([Console(stderr=True, no_color=no_color, highlight=False),
                          Console(no_color=no_color, highlight=False)])
        for made in _consoles:
            # Piped tables are read by people in logs and CI output: do not squeeze them to 80 columns.
            if not made.is_terminal and "COLUMNS" not in os.environ:
                made.width = 160
        globals().update(console=_consoles[0], out_console=_consoles[1])
    return _consoles


def _stderr() -> Console:
    return _made_consoles()[0]


def _stdout() -> Console:
    return _made_consoles()[1]


def emit_json(value: Any) -> None:
    """Write exactly one JSON document to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def escape(text: str) -> str:
    """``rich.markup.escape`` (imported when first needed): ``text`` shown as is, not as markup."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


def warn(message: str) -> None:
    """One ``warning: …`` line on stderr (the message is shown as is, not as Rich markup)."""
    _stderr().print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def show_progress() -> bool:
    """Progress bars only on an interactive terminal."""
    return _stderr().is_terminal


# --- progress ------------------------------------------------------------------------------

@contextmanager
def status(initial: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal (plain lines otherwise); yields a callback that updates its text."""
    if not show_progress():
        yield lambda message: None
        return
    with _stderr().status(initial) as spinner:
        yield lambda message: spinner.update(message)


@contextmanager
def counter(description: str) -> Iterator[Callable[[int], None]]:
    """A live count and rate of processed items, on a terminal only; yields ``advance(n)``."""
    if not show_progress():
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
               TimeElapsedColumn())
    with Progress(*columns, console=_stderr(), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda n: progress.advance(task, n)


# --- renderers, one per result type ------------------------------------------------------------

def render_train(result: Any, *, as_json: bool, mlflow: dict[str, Any] | None = None) -> None:
    model = result.model
    if as_json:
        emit_json({"model": model.reference, "path": str(model.path), "seconds": round(result.seconds, 2),
                   "train_rows": result.train_rows, "validation_rows": result.validation_rows,
                   "metrics": result.metrics, "params": result.params, **({"mlflow": mlflow} if mlflow else {})})
        return
    _stderr().print(f"[bold green]trained[/] {model.reference} in {result.seconds:.1f}s "
                  f"({result.train_rows:,} training rows, {result.validation_rows:,} validation rows)")
    _stderr().print(_metrics_table([("validation", result.metrics)]))
    _stderr().print(f"saved to {model.path}", markup=False)
    print(model.reference)


def render_models(manifests: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        emit_json([{k: m.get(k) for k in ("name", "version", "created", "path", "metrics")} for m in manifests])
        return
    if not manifests:
        _stderr().print("no models yet: train one with `sentikit train`")
        return
    from rich import box
    from rich.table import Table

    from ..evaluate import format_metric

    table = Table("model", "created", "rows", "accuracy", "ROC AUC", "path", box=box.SIMPLE)
    for m in manifests:
        metrics = m.get("metrics", {})
        table.add_row(f"{m['name']}:{m['version']}", str(m.get("created", "")), f"{m.get('data', {}).get('rows', 0):,}",
                      format_metric(metrics.get("accuracy")), format_metric(metrics.get("roc_auc")), m["path"])
    _stdout().print(table)


def render_evaluation(report: Any, *, as_json: bool) -> None:
    if as_json:
        emit_json(report)
        return
    from rich import box
    from rich.table import Table

    sections = [(f.path, f.metrics) for f in report.files]
    if len(sections) > 1:
        sections.append(("all files", report.metrics))
    _stdout().print(f"model {report.model}, threshold {report.threshold}")
    _stdout().print(_metrics_table(sections))
    c = report.metrics["confusion"]
    matrix = Table("", "predicted negative", "predicted positive", box=box.SIMPLE, title="confusion matrix")
    matrix.add_row("actual negative", f"{c['tn']:,}", f"{c['fp']:,}")
    matrix.add_row("actual positive", f"{c['fn']:,}", f"{c['tp']:,}")
    _stdout().print(matrix)
    if report.report_dir:
        _stdout().print(f"report: {Path(report.report_dir) / 'index.html'}", markup=False)


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
    _stderr().print(f"scored {summary.rows:,} rows ({summary.positives:,} positive, mean score {mean})"
                  + (f" → {summary.output}" if summary.output != "-" else ""))


def render_explanation(explanation: Any, *, as_json: bool) -> None:
    data = to_jsonable(explanation)
    if as_json:
        emit_json(data)
        return
    _stdout().print(f"score {data['score']:.4f}  (logit {data['logit']:+.4f} = intercept {data['intercept']:+.4f} + contributions)")
    from rich import box
    from rich.table import Table

    table = Table("pushed", "n-gram", "contribution", box=box.SIMPLE)
    for direction, key, colour in (("up", "positives", "green"), ("down", "negatives", "red")):
        for item in data[key]:
            table.add_row(direction, item["ngram"], f"[{colour}]{item['contribution']:+.4f}[/]")
    _stdout().print(table)


def _metrics_table(sections: list[tuple[str, dict[str, Any]]]) -> Table:
    from rich import box
    from rich.table import Table

    from ..evaluate import format_metric

    names = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
    headers = ("accuracy", "prec.", "recall", "F1", "ROC AUC", "log loss", "Brier")
    table = Table(box=box.SIMPLE)
    table.add_column("data", overflow="fold")
    for header in ("rows", *headers):
        table.add_column(header, justify="right")
    for label, metrics in sections:
        table.add_row(label, f"{metrics['rows']:,}", *(format_metric(metrics.get(n)) for n in names))
    return table
