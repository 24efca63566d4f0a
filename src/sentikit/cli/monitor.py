"""`sentikit monitor`: watch a stream of texts and alert when sentiment turns negative."""

from __future__ import annotations

import io
import json
import signal
import sys
import threading
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Annotated, Any, Iterator, Optional

import typer

from . import render as output
from ..errors import ExitCode, InvalidInputError
from .app import ModelArgument, ModelFlag, WorkspaceOption, app, pick_model, scorer_for, settings
from .options import (
    EmailFromOption, EmailToOption, PublicUrlOption, RetryHoursOption, SmtpUrlOption, WebhookFormatOption, WebhookOption,
    channel_settings,
)

if TYPE_CHECKING:
    from rich.live import Live

    from ..monitor import Event, Summary, WindowStats

_MAX_BAD_LINES_SHOWN = 10


@app.command()
def monitor(
    model: ModelArgument = None,
    model_flag: ModelFlag = None,
    input_file: Annotated[Optional[str], typer.Option("--input", "-i", help="File of texts (one a line, or JSON lines); - for stdin [default: stdin].")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading --input as it grows, like `tail -F` (survives truncation and rotation).")] = False,
    from_end: Annotated[bool, typer.Option("--from-end", help="With --follow, skip what the file already holds.")] = False,
    url: Annotated[Optional[str], typer.Option("--url", help="Score with a running sentikit server instead of a local model (SENTIKIT_API_KEY is sent).")] = None,
    window: Annotated[Optional[int], typer.Option("--window", "-n", help="Rolling window: the last N texts.", min=1)] = None,
    window_seconds: Annotated[Optional[float], typer.Option("--window-seconds", "-s", help="Rolling window: the last S seconds (event time from --time-field, else arrival time).")] = None,
    alert_below: Annotated[Optional[float], typer.Option("--alert-below", help="Alert when the rolling mean score falls below this (0-1). Required.")] = None,
    recover_above: Annotated[Optional[float], typer.Option("--recover-above", help="Recover when the mean reaches this again [default: --alert-below].")] = None,
    min_count: Annotated[Optional[int], typer.Option("--min-count", help="No alert with fewer texts in the window [default: N for --window, 10 for --window-seconds].")] = None,
    webhook: WebhookOption = None,
    webhook_format: WebhookFormatOption = None,
    email_to: EmailToOption = None,
    email_from: EmailFromOption = None,
    smtp_url: SmtpUrlOption = None,
    public_url: PublicUrlOption = None,
    alert_retry_hours: RetryHoursOption = None,
    test_alert: Annotated[bool, typer.Option("--test-alert", help="Send one sample alert to every configured channel, print each answer, exit 1 if any failed.")] = False,
    input_format: Annotated[str, typer.Option("--format", help="auto, text (one text a line) or jsonl.")] = "auto",
    text_field: Annotated[str, typer.Option("--text-field", help="JSON field holding the text.")] = "text",
    time_field: Annotated[str, typer.Option("--time-field", help="JSON field holding the event time (ISO 8601 or epoch seconds).")] = "timestamp",
    id_field: Annotated[str, typer.Option("--id-field", help="JSON field holding an id quoted in alerts.")] = "id",
    threshold: Annotated[Optional[float], typer.Option("--threshold", "-t", help="Scores below this count as negative in window stats [default: 0.5].")] = None,
    status_interval: Annotated[float, typer.Option("--status-interval", help="Seconds between status reports (plain lines and --json).", min=0)] = 5.0,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help="Exit 1 if any alert fired (for CI).")] = False,
    workspace: WorkspaceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Stream events as JSON lines on stdout (one object a line).")] = False,
) -> None:
    """Watch texts as they arrive and alert when the rolling sentiment turns negative.

    Scores each line (a text, or a JSON object with text, timestamp and id), keeps a rolling mean over the window, raises one alert when it falls below --alert-below and one recovery when it is back, and delivers both to every channel (webhooks in JSON, Slack or Teams format, email), retried with back-off. --json streams events as JSON lines. Exit codes: 0 done, 1 --fail-on-alert and an alert fired (or a --test-alert channel failed), 130 interrupted.

    Example:
        tail -F mentions.log | sentikit monitor --window 200 --alert-below 0.4 --webhook slack+https://hooks.slack.com/services/T/B/X
        sentikit monitor --input mentions.jsonl --follow --window-seconds 3600 --alert-below 0.35
        sentikit monitor --test-alert --webhook teams+https://example.logic.azure.com/workflows/... --email-to desk@example.com --smtp-url smtp://mail:587
    """
    from ..config import read_smtp_credentials
    from ..monitor import InputFormat, MonitorConfig, Notifier, open_input, run_monitor
    from ..monitor.notify import channels_from_settings, check_public_url, send_test_alert

    s = settings(workspace=workspace, threshold=threshold, **channel_settings(
        webhook, webhook_format, email_to, email_from, smtp_url, public_url, alert_retry_hours))
    smtp_user, smtp_password = read_smtp_credentials()
    channels = channels_from_settings(s, smtp_user=smtp_user, smtp_password=smtp_password)
    dashboard = check_public_url(s.monitor_public_url)
    if test_alert:
        if not channels:
            raise InvalidInputError("--test-alert needs a channel: --webhook URL or --email-to ADDR with --smtp-url")
        results = send_test_alert(channels, public_url=dashboard)
        _render_test_results(results, as_json=as_json)
        if not all(r.ok for r in results):
            raise typer.Exit(int(ExitCode.CHECK_FAILED))
        return
    if alert_below is None:
        raise InvalidInputError("--alert-below is required (e.g. --alert-below 0.4)")
    config = MonitorConfig(alert_below=alert_below, recover_above=recover_above, window=window,
                           window_seconds=window_seconds, min_count=min_count, threshold=s.threshold)
    fmt = InputFormat(kind=input_format, text_field=text_field, time_field=time_field, id_field=id_field)
    if from_end and not follow:
        raise InvalidInputError("--from-end only makes sense with --follow")
    scorer = scorer_for(pick_model(model, model_flag), url, s)
    notifier = Notifier(channels, public_url=dashboard, retry_hours=s.monitor_alert_retry_hours) if channels else None
    source = open_input(input_file, follow=follow, from_end=from_end, stdin=_stdin_bytes() if input_file in (None, "-") else None)
    with _Renderer(as_json) as render, _sigterm_as_interrupt():
        summary = run_monitor(source, scorer, config, fmt=fmt, on_event=render, notifier=notifier,
                              status_interval=render.status_interval(status_interval))
        render.summary(summary)
    if fail_on_alert and summary.alerts:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))
    if summary.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))


def _render_test_results(results: list[Any], *, as_json: bool) -> None:
    if as_json:
        output.emit_json({"ok": all(r.ok for r in results), "channels": results})
        return
    for r in results:
        answer = r.status or "no answer"
        if r.error and r.error != r.status:
            answer = f"{answer}: {r.error}" if r.status else r.error
        output.out_console.print(f"{'ok    ' if r.ok else 'FAILED'} {r.format:5} {r.channel}  {answer}  ({r.seconds:.2f} s)",
                                 highlight=False, markup=False, soft_wrap=True)


def _stdin_bytes() -> IO[bytes]:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    from ..data import TextAsBytes

    return io.BufferedReader(TextAsBytes(sys.stdin))  # a text-only stdin (embedding, tests), still streamed


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (docker stop, systemd) like Ctrl-C so the summary still gets printed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- rendering ----------------------------------------------------------------------------------


def _fmt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _window_text(w: WindowStats) -> str:
    span = f", span {_duration(w.span_seconds)}" if w.count > 1 and w.span_seconds > 0 else ""
    return f"mean {_fmt(w.mean)} over {w.count} texts (min {_fmt(w.min)}, {w.negative} negative{span})"


def _plural(count: int, word: str, words: Optional[str] = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


class _Renderer:
    """Events to NDJSON on stdout (--json), or to people on stderr: a live status line on a terminal."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.live: Optional[Live] = None
        self.bad_shown = 0

    def __enter__(self) -> "_Renderer":
        if not self.as_json and output.console.is_terminal:
            from rich.live import Live
            from rich.text import Text

            self.live = Live(Text("monitor: waiting for input…", style="dim"), console=output.console,
                             refresh_per_second=4, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.stop()

    def status_interval(self, requested: float) -> float:
        return min(requested, 0.25) if self.live is not None else requested

    def __call__(self, event: Event) -> None:
        from ..monitor import Alert, BadLine, Recovery, SourceNotice, Status, WebhookFailed

        if self.as_json:
            sys.stdout.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        if isinstance(event, Status):
            line = (f"{event.state.upper():7} {_window_text(event.window)} · {event.texts:,} texts · "
                    f"{_plural(event.alerts, 'alert')} · {_plural(event.bad_lines, 'bad line')}")
            if self.live is not None:
                from rich.text import Text

                style = {"alert": "bold red", "ok": "green"}.get(event.state, "dim")
                self.live.update(Text(line, style=style, no_wrap=True, overflow="ellipsis"))
            else:
                output.console.print(f"status: {line}", highlight=False, soft_wrap=True)
        elif isinstance(event, Alert):
            output.console.print(
                f"[bold white on red] ALERT [/] [bold red]rolling mean {event.mean:.3f} fell below {event.alert_below}[/] "
                f"at text {event.position:,} (line {event.line}{', ' + event.time if event.time else ''})",
                highlight=False, soft_wrap=True)
            output.console.print(f"  window: {_window_text(event.window)}", highlight=False, soft_wrap=True)
            for sample in event.samples:
                label = f" [{sample.id}]" if sample.id else ""
                output.console.print(f"  {sample.score:.3f}{label} {sample.text}", highlight=False, markup=False, soft_wrap=True)
        elif isinstance(event, Recovery):
            output.console.print(
                f"[bold black on green] RECOVERED [/] [green]rolling mean {event.mean:.3f} is back at or above "
                f"{event.recover_above}[/] at text {event.position:,} (line {event.line}; "
                f"{event.texts_in_alert:,} texts after the alert)", highlight=False, soft_wrap=True)
        elif isinstance(event, BadLine):
            self.bad_shown += 1
            if self.bad_shown <= _MAX_BAD_LINES_SHOWN:
                output.console.print(f"[yellow]bad line {event.line}:[/] {event.reason}", highlight=False, soft_wrap=True)
            if self.bad_shown == _MAX_BAD_LINES_SHOWN:
                output.console.print("[yellow]further bad lines are counted, not shown[/]", highlight=False)
        elif isinstance(event, SourceNotice):
            output.console.print(f"[dim]input {event.path}: {event.action}[/]", highlight=False)
        elif isinstance(event, WebhookFailed):
            output.console.print(
                f"[yellow]channel {output.escape(event.url)}: could not deliver the {event.about} "
                f"after {event.attempts} attempts ({event.error}); monitoring continues[/]", highlight=False)

    def summary(self, summary: Summary) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        if self.as_json:
            self(summary)
            return
        state = "interrupted" if summary.interrupted else "done"
        model = summary.model.get("reference") or summary.model.get("url") or "-"
        output.console.print(
            f"[bold]{state}:[/] {_plural(summary.texts, 'text')}, {_plural(summary.bad_lines, 'bad line')}, "
            f"{_plural(summary.alerts, 'alert')}, {_plural(summary.recoveries, 'recovery', 'recoveries')}; "
            f"final {_window_text(summary.window)}; "
            f"state {summary.state}; model {model}",
            highlight=False, soft_wrap=True)
        if summary.webhooks_sent or summary.webhooks_failed:
            output.console.print(f"alerts delivered: {summary.webhooks_sent}, failed: {summary.webhooks_failed}", highlight=False)
