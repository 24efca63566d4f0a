"""Commands that teach a model a team's own domain: label (an interactive labeller) and adapt."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from . import render as output
from ..config import ADAPT_USER_SHARE
from ..errors import CheckFailedError, InvalidInputError
from ..selftrain import SelfTrainParams
from .app import app, settings
from .local import _load
from .options import JsonOption, LabelColumnOption, NegativeMaxOption, PositiveMinOption, TextColumnOption, WorkspaceOption
from .tracking import ExperimentOption, MlflowOption, log_model_run_for, render_logged, start_tracking

_METRIC_LABELS = {"accuracy": "accuracy", "f1_negative": "F1 (negative)", "roc_auc": "ROC AUC", "ece": "calibration error"}


NO_PROOF = "no labelled posts, so nothing proves the adapted model better"
_SELFTRAIN = SelfTrainParams()


@app.command()
def adapt(
    files: Annotated[Optional[list[str]], typer.Argument(
        help="Your labelled posts (CSV, TSV, JSONL, .gz; e.g. from `sentikit label`), or - for stdin; optional with --unlabelled.")] = None,
    unlabelled: Annotated[Optional[list[str]], typer.Option(
        "--unlabelled", "-u", help="Posts without labels to self-train on (CSV/TSV/JSONL with a text column, or plain lines; .gz; -; "
        "or the desk's monitor.db), repeatable.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="With a monitor.db: its posts from this time (ISO 8601, UTC).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="With a monitor.db: its posts before this time (ISO 8601, UTC).")] = None,
    base: Annotated[Optional[str], typer.Option("--base", "-b", help="Model to adapt: directory, NAME or NAME:VERSION \\[default: latest].")] = None,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Register as this model name \\[default: the base's].")] = None,
    corpus: Annotated[
        Optional[list[str]], typer.Option("--corpus", help="Training corpus to retrain on, repeatable \\[default: the bundled corpus].")
    ] = None,
    calibration: Annotated[str, typer.Option("--calibration", help="auto, platt or isotonic (cross-validated on your posts).")] = "auto",
    share: Annotated[float, typer.Option("--share", help="Weight of your posts as a share of the corpus in training.")] = ADAPT_USER_SHARE,
    cutoff: Annotated[float, typer.Option("--cutoff", help="Unlabelled posts scored at least this (or at most 1 - this) get pseudo-labels.")] = _SELFTRAIN.cutoff,
    pseudo_weight: Annotated[float, typer.Option("--pseudo-weight", help="Training weight of each pseudo-labelled post (a corpus row weighs 1).")] = _SELFTRAIN.weight,
    rounds: Annotated[int, typer.Option("--rounds", help="Self-training rounds (each refitted model labels the next).")] = _SELFTRAIN.rounds,
    balance: Annotated[str, typer.Option("--balance", help="Pseudo-labels' class balance: prior (as the model sees all posts), equal or none.")] = _SELFTRAIN.balance,
    force: Annotated[bool, typer.Option("--force", help="Register the adapted model even when it is not better, or when nothing can prove it.")] = False,
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
    """Adapt a model to your posts; register it only if it is better on labelled posts held out.

    With labelled posts: retrains with them weighted, recalibrates scores on your domain, and prints
    accuracy, F1 of the negative class, ROC AUC and calibration error before and after, with bootstrap
    95% intervals; with --unlabelled as well, also "labelled posts alone", to show what the unlabelled
    posts added. With --unlabelled only: self-trains on them and prints what changed (posts used,
    class balance, score shifts, agreement); nothing can prove it better, so it registers only with
    --force. Exit 1 (nothing registered) when not better or not provable, unless --force.

    Example:
        sentikit adapt --unlabelled mentions.jsonl --force
        sentikit adapt --unlabelled monitor.db --since 2026-11-01 --until 2026-12-01 --force
        sentikit label mentions.jsonl --order adapt --output labelled.csv
        sentikit adapt labelled.csv --unlabelled mentions.jsonl
        sentikit adapt labelled.csv --base sentiment:1 --json
    """
    import sys

    from ..adapt import adapt_model
    from ..data import default_training_files, load_dataset
    from ..model import resolve_model
    from ..selftrain import adapt_unlabelled
    from ..unlabelled import collect, open_sources

    params = SelfTrainParams(cutoff=cutoff, weight=pseudo_weight, rounds=rounds, balance=balance).check()
    if not files and not unlabelled:
        raise InvalidInputError("give your labelled posts (FILES), --unlabelled posts, or both")
    if "-" in (files or []) and "-" in (unlabelled or []):
        raise InvalidInputError("standard input (-) can be read only once: give the labelled or the unlabelled posts as a file")
    s = settings(workspace=workspace, model_name=None, seed=seed, mlflow_tracking_uri=mlflow, mlflow_experiment=experiment)
    tracking, experiment_id = start_tracking(s)  # --mlflow: the server is checked before the work
    base_model = resolve_model(base, s.workspace_path, s.model_name, tracking_uri=s.mlflow_tracking_uri or None)
    user = _load(files, text_column, label_column, negative_max, positive_min) if files else None
    with output.counter("reading unlabelled posts") as advance:
        sources = open_sources(unlabelled, text_column=text_column, stdin=sys.stdin, since=since, until=until) if unlabelled else []
        posts = collect(sources, progress=advance) if sources else None
    training = load_dataset(corpus or default_training_files())
    with output.status("adapting") as say:
        if user is None:
            assert posts is not None
            outcome = adapt_unlabelled(base_model, posts, training, workspace=s.workspace_path, name=name, seed=s.seed,
                                       params=params, force=force, progress=say)
        else:
            result = adapt_model(base_model, user, training, workspace=s.workspace_path, name=name, seed=s.seed, share=share,
                                 calibration=calibration, force=force, unlabelled=posts, selftrain=params, progress=say)
    if user is None:
        render_unlabelled(outcome, as_json=as_json)  # exit 1 when nothing was registered
        if tracking and outcome.model is not None:
            render_logged(log_model_run_for(tracking, outcome.model, experiment_id, base=base_model))
        return
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
            **({"selftrain": result.selftrain} if result.selftrain is not None else {}),
            "seconds": round(result.seconds, 2),
        })
        return
    from rich import box
    from rich.table import Table

    how = f"{c.rows} held-out posts" if c.method == "holdout" else f"{c.rows} posts, cross-validated"
    columns = [result.base, *(["labelled alone"] if c.labelled_alone is not None else []), "adapted"]
    table = Table("metric (95% interval)", *columns, box=box.SIMPLE, title=f"on {how}")
    for key, label in _METRIC_LABELS.items():
        sides = [c.before, *([c.labelled_alone] if c.labelled_alone is not None else []), c.after]
        table.add_row(label + (" (lower is better)" if key == "ece" else ""), *[_interval(side[key]) for side in sides])
    output.console.print(table)
    output.console.print(f"calibration: {result.calibration['kind']}, fitted out-of-fold on {result.calibration['rows']} posts; "
                         f"each of your training posts weighed {result.user_weight:.0f} corpus rows")
    if result.selftrain is not None:
        st, last = result.selftrain, result.selftrain["pseudo_labels"][-1]
        output.console.print(f"self-trained on {st['posts']:,} unlabelled posts: {last['pseudo_labelled']:,} pseudo-labelled "
                             f"({last['positive']:,} positive, {last['negative']:,} negative), weight {st['params']['weight']:g} each")
        if not last.get("kept", True):
            output.console.print("they did not help out-of-fold on your labelled training posts, so the adapted model "
                                 "uses your labelled posts alone")
    if result.model is not None:
        verdict = "[yellow]registered (forced, not better)[/]" if result.forced else "[bold green]better: registered[/]"
        output.console.print(f"{verdict} {result.model.reference} in {result.seconds:.0f}s")
        output.console.print(f"saved to {result.model.path}", markup=False)
        print(result.model.reference)


def render_unlabelled(result: Any, *, as_json: bool) -> None:
    """Diagnostics of `adapt --unlabelled` alone; exit 1 (CheckFailedError) when nothing was registered."""
    d = result.diagnostics
    if as_json:
        output.emit_json({"base": result.base, "model": result.model.reference if result.model else None,
                          "path": str(result.model.path) if result.model else None, "registered": result.model is not None,
                          "forced": result.model is not None, "proof": None, "params": result.params.to_dict(),
                          "diagnostics": d.to_dict(), "seconds": round(result.seconds, 2)})
    else:
        from rich import box
        from rich.table import Table

        last = d.rounds[-1]
        table = Table("on your unlabelled posts", result.base, "adapted", box=box.SIMPLE,
                      title=f"{d.posts_used:,} distinct posts ({d.posts_read:,} read, {d.duplicates:,} near-duplicates, {d.blank:,} blank)")
        table.add_row("scored positive", f"{d.positive_before:.1%}", f"{d.positive_after:.1%}")
        table.add_row("pseudo-labelled (positive / negative)", "", f"{last['pseudo_labelled']:,} ({last['positive']:,} / {last['negative']:,})")
        table.add_row("mean score change", "", f"{d.mean_shift:.3f}")
        table.add_row("scores moved by more than 0.1", "", f"{d.moved:.1%}")
        table.add_row("same label as the base", "", f"{d.agreement:.1%}")
        output.console.print(table)
        if result.model is not None:
            output.console.print(f"[yellow]registered without proof (--force): {NO_PROOF}[/] {result.model.reference} in {result.seconds:.0f}s")
            output.console.print(f"saved to {result.model.path}", markup=False)
            print(result.model.reference)
    if result.model is None:
        raise CheckFailedError(f"{NO_PROOF}: not registered (--force registers it; label 50 posts with "
                               "`sentikit label FILE --order adapt` to prove it)")


_KEYS = {"p": "positive", "+": "positive", "1": "positive", "n": "negative", "-": "negative", "0": "negative",
         "s": "skip", " ": "skip", "u": "undo", "q": "quit", "\x1b": "quit", "\x03": "quit", "\x04": "quit"}
_HELP = "[p]ositive  [n]egative  [s]kip  [u]ndo  [q]uit"


@app.command()
def label(
    file: Annotated[str, typer.Argument(help="Posts to label: CSV, TSV, JSONL (with a text column) or plain lines; .gz.")],
    output_path: Annotated[Optional[str], typer.Option("--output", "-o", help="Labelled CSV to write \\[default: FILE's name + .labelled.csv].")] = None,
    order: Annotated[str, typer.Option("--order", help="uncertain (least-certain first, diverse), adapt (what helps adapt --unlabelled most), random (unbiased sample) or file.")] = "uncertain",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model that scores the posts \\[default: latest].")] = None,
    text_column: TextColumnOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --order random.")] = 42,
    workspace: WorkspaceOption = None,
) -> None:
    """Label your own posts in the terminal, one at a time, for `sentikit adapt`.

    Shows each post with the model's score; keys p (positive), n (negative), s (skip), u (undo),
    q (quit). Every answer is saved at once, so you can stop and resume at any time. By default
    the posts the model is least sure about come first, near-duplicates last; retweets and other
    near-duplicates are asked once. --order adapt asks first for what self-training cannot learn.

    Example:
        sentikit label posts.csv                  # writes posts.labelled.csv
        sentikit label mentions.jsonl --order adapt -o labelled.csv   # then: sentikit adapt labelled.csv -u mentions.jsonl
        sentikit label posts.txt --order random -o test-sample.csv
    """
    import sys
    from pathlib import Path

    from ..label import ORDERS, LabelSession
    from ..model import resolve_model
    from ..unlabelled import FileSource, collect

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInputError("sentikit label is interactive: run it in a terminal (stdin and stdout must be a TTY)")
    if order not in ORDERS:
        raise InvalidInputError(f"--order must be one of {', '.join(ORDERS)}, got '{order}'")
    s = settings(workspace=workspace)
    scorer = resolve_model(model, s.workspace_path, s.model_name)
    posts = collect([FileSource(file, text_column=text_column)])
    target = Path(output_path) if output_path else Path(file).with_name(Path(file).name.split(".")[0] + ".labelled.csv")
    session = LabelSession.start(posts.texts, scorer.score(posts.texts), target, order=order, seed=seed, copies=posts.copies)
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
