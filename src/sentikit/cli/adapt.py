"""Commands that teach a model a team's own domain: label (an interactive labeller) and adapt."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from . import render as output
from ..config import ADAPT_USER_SHARE
from ..errors import CheckFailedError
from .app import app, settings
from .local import _load
from .options import JsonOption, LabelColumnOption, NegativeMaxOption, PositiveMinOption, TextColumnOption, WorkspaceOption
from .tracking import ExperimentOption, MlflowOption, log_model_run_for, render_logged, start_tracking

_METRIC_LABELS = {"accuracy": "accuracy", "f1_negative": "F1 (negative)", "roc_auc": "ROC AUC", "ece": "calibration error"}


@app.command()
def adapt(
    files: Annotated[list[str], typer.Argument(help="Your labelled posts (CSV, TSV, JSONL, .gz; e.g. from `sentikit label`), or - for stdin.")],
    base: Annotated[Optional[str], typer.Option("--base", "-b", help="Model to adapt: directory, NAME or NAME:VERSION \\[default: latest].")] = None,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Register as this model name \\[default: the base's].")] = None,
    corpus: Annotated[
        Optional[list[str]], typer.Option("--corpus", help="Training corpus to retrain on, repeatable \\[default: the bundled corpus].")
    ] = None,
    calibration: Annotated[str, typer.Option("--calibration", help="auto, platt or isotonic (cross-validated on your posts).")] = "auto",
    share: Annotated[float, typer.Option("--share", help="Weight of your posts as a share of the corpus in training.")] = ADAPT_USER_SHARE,
    force: Annotated[bool, typer.Option("--force", help="Register the adapted model even when it is not better.")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed \\[default: 42].")] = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = None,
    negative_max: NegativeMaxOption = None,
    positive_min: PositiveMinOption = None,
    workspace: WorkspaceOption = None,
    mlflow: MlflowOption = None,
    experiment: ExperimentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Adapt a model to your labelled posts; register it only if it is better on posts held out.

    Retrains with your posts weighted, recalibrates scores on your domain, and prints accuracy,
    F1 of the negative class, ROC AUC and calibration error before and after, with bootstrap 95%
    intervals. Exit 1 (nothing registered) when the adapted model is not better, unless --force.

    Example:
        sentikit label posts.csv --output labelled.csv
        sentikit adapt labelled.csv
        sentikit adapt labelled.csv --base sentiment:1 --json
    """
    from ..adapt import adapt_model
    from ..data import default_training_files, load_dataset
    from ..model import resolve_model

    s = settings(workspace=workspace, model_name=None, seed=seed, mlflow_tracking_uri=mlflow, mlflow_experiment=experiment)
    tracking, experiment_id = start_tracking(s)  # --mlflow: the server is checked before the work
    base_model = resolve_model(base, s.workspace_path, s.model_name, tracking_uri=s.mlflow_tracking_uri or None)
    user = _load(files, text_column, label_column, negative_max, positive_min)
    training = load_dataset(corpus or default_training_files())
    with output.status("adapting") as say:
        result = adapt_model(base_model, user, training, workspace=s.workspace_path, name=name, seed=s.seed,
                             share=share, calibration=calibration, force=force, progress=say)
    render_adapt(result, as_json=as_json)
    if tracking and result.model is not None:
        render_logged(log_model_run_for(tracking, result.model, experiment_id, base=base_model))
    if result.model is None:
        raise CheckFailedError(
            f"the adapted model is not better than {result.base} on your held-out posts; not registered "
            "(label more posts, or --force to register it anyway)"
        )


def _interval(metric: dict[str, Any]) -> str:
    value, low, high = metric["value"], metric["low"], metric["high"]
    if value is None:
        return "—"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{value:.3f}"


def render_adapt(result: Any, *, as_json: bool) -> None:
    c = result.comparison
    if as_json:
        output.emit_json({
            "base": result.base,
            "model": result.model.reference if result.model else None,
            "path": str(result.model.path) if result.model else None,
            "registered": result.model is not None,
            "forced": result.forced,
            "user_rows": result.user_rows,
            "user_weight": result.user_weight,
            "calibration": {k: v for k, v in result.calibration.items() if k in ("kind", "a", "b", "rows")},
            "comparison": c.to_dict(),
            "seconds": round(result.seconds, 2),
        })
        return
    from rich import box
    from rich.table import Table

    how = f"{c.rows} held-out posts" if c.method == "holdout" else f"{c.rows} posts, cross-validated"
    table = Table("metric (95% interval)", result.base, "adapted", box=box.SIMPLE, title=f"on {how}")
    for key, label in _METRIC_LABELS.items():
        table.add_row(label + (" (lower is better)" if key == "ece" else ""), _interval(c.before[key]), _interval(c.after[key]))
    output.console.print(table)
    output.console.print(f"calibration: {result.calibration['kind']}, fitted out-of-fold on {result.calibration['rows']} posts; "
                         f"each of your training posts weighed {result.user_weight:.0f} corpus rows")
    if result.model is not None:
        verdict = "[yellow]registered (forced, not better)[/]" if result.forced else "[bold green]better: registered[/]"
        output.console.print(f"{verdict} {result.model.reference} in {result.seconds:.0f}s")
        output.console.print(f"saved to {result.model.path}", markup=False)
        print(result.model.reference)


_KEYS = {"p": "positive", "+": "positive", "1": "positive", "n": "negative", "-": "negative", "0": "negative",
         "s": "skip", " ": "skip", "u": "undo", "q": "quit", "\x1b": "quit", "\x03": "quit", "\x04": "quit"}
_HELP = "[p]ositive  [n]egative  [s]kip  [u]ndo  [q]uit"


@app.command()
def label(
    file: Annotated[str, typer.Argument(help="Posts to label: CSV, TSV, JSONL (with a text column) or plain lines.")],
    output_path: Annotated[Optional[str], typer.Option("--output", "-o", help="Labelled CSV to write \\[default: FILE's name + .labelled.csv].")] = None,
    order: Annotated[str, typer.Option("--order", help="uncertain (least-certain first, diverse), random (unbiased sample) or file.")] = "uncertain",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model that scores the posts \\[default: latest].")] = None,
    text_column: TextColumnOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --order random.")] = 42,
    workspace: WorkspaceOption = None,
) -> None:
    """Label your own posts in the terminal, one at a time, for `sentikit adapt`.

    Shows each post with the model's score; keys p (positive), n (negative), s (skip), u (undo),
    q (quit). Every answer is saved at once, so you can stop and resume at any time. By default
    the posts the model is least sure about come first, near-duplicates last.

    Example:
        sentikit label posts.csv                  # writes posts.labelled.csv
        sentikit label posts.txt --order random -o test-sample.csv
    """
    import sys
    from pathlib import Path

    from ..data import iter_records
    from ..errors import InvalidInputError
    from ..label import ORDERS, LabelSession
    from ..model import resolve_model

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInputError("sentikit label is interactive: run it in a terminal (stdin and stdout must be a TTY)")
    if order not in ORDERS:
        raise InvalidInputError(f"--order must be one of {', '.join(ORDERS)}, got '{order}'")
    s = settings(workspace=workspace)
    scorer = resolve_model(model, s.workspace_path, s.model_name)
    _, _, records = iter_records(file, text_column=text_column)
    texts = list(dict.fromkeys(text.strip() for _, _, text in records if text.strip()))
    if not texts:
        raise InvalidInputError(f"{file}: no posts to label")
    target = Path(output_path) if output_path else Path(file).with_name(Path(file).name.split(".")[0] + ".labelled.csv")
    session = LabelSession.start(texts, scorer.score(texts), target, order=order, seed=seed)
    _run_labeller(session, scorer.reference)


def _terminal_size(stream: Any) -> tuple[int, int]:
    """The terminal's own size (not $COLUMNS/$LINES, which may be stale or set for other programs)."""
    import os

    try:
        size = os.get_terminal_size(stream.fileno())
        return max(size.columns, 20), max(size.lines, 8)
    except (OSError, ValueError):
        return 80, 24


def _run_labeller(session: Any, model_name: str) -> None:
    import sys
    import termios
    import textwrap
    import tty

    out = sys.stdout
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    note = ""
    try:
        tty.setcbreak(fd)
        while True:
            index = session.current()
            width, height = _terminal_size(out)
            counts = session.counts()
            done = len(session.answered)
            header = (f"sentikit label · {done}/{len(session.texts)} answered · "
                      f"{counts['positive']} pos, {counts['negative']} neg, {counts['skip']} skipped")
            lines = [header[:width], "─" * min(width, 80)]
            if index is None:
                lines += ["", "Every post has an answer.", f"Saved to {session.output}", "", "[u]ndo  [q]uit"]
            else:
                score = session.scores[index]
                lines += [f"model {model_name}: {score:.2f} ({'positive' if score >= 0.5 else 'negative'})", ""]
                body = textwrap.wrap(session.texts[index], width=max(20, width - 2)) or [""]
                room = max(3, height - 9)
                if len(body) > room:
                    body = body[: room - 1] + [body[room - 1][: max(0, width - 5)] + " …"]
                lines += ["  " + b for b in body]
                lines += ["", _HELP]
            lines += [note[:width]] if note else []
            out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
            out.flush()
            key = sys.stdin.read(1)
            action = _KEYS.get(key.lower() if key else "q", "")
            note = ""
            if action == "quit" or not key:
                break
            if action == "undo":
                note = "undone" if session.undo() else "nothing to undo"
            elif action in ("positive", "negative", "skip") and index is not None:
                session.answer(action)
                note = f"saved: {action}"
            elif action:
                note = "every post has an answer: [u]ndo or [q]uit"
            else:
                note = f"unknown key {key!r}: {_HELP}"
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        counts = session.counts()
        out.write(f"\nsaved {counts['positive'] + counts['negative']} labels ({counts['positive']} positive, "
                  f"{counts['negative']} negative) to {session.output}\n")
        out.flush()
