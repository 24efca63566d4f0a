"""``deploy --monitor``: the desk's options on ``sentikit deploy`` (the names and meanings of ``serve --monitor``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..deploy.desk import DeskSettings

Monitor = Annotated[bool, typer.Option(
    "--monitor", help="Run the communications desk in the server (serve --monitor): /v1/posts, /monitor, alerts.")]
AlertBelow = Annotated[Optional[float], typer.Option(
    "--alert-below", help="With --monitor (required): alert when the rolling mean score falls below this.")]
RecoverAbove = Annotated[Optional[float], typer.Option(
    "--recover-above", help="With --monitor: recover when it rises back above this \\[default: the desk's].")]
Window = Annotated[Optional[int], typer.Option("--window", help="With --monitor: posts in the rolling window.")]
WindowSeconds = Annotated[Optional[float], typer.Option(
    "--window-seconds", help="With --monitor: the rolling window as a time span instead.")]
MinCount = Annotated[Optional[int], typer.Option(
    "--min-count", help="With --monitor: posts the window needs before it can alert.")]
Threshold = Annotated[Optional[float], typer.Option(
    "--threshold", help="With --monitor: the score below which a post counts as negative.")]
Webhook = Annotated[Optional[str], typer.Option(
    "--webhook", help="With --monitor: POST each alert and recovery here (passed to the container as a secret).")]
RetentionDays = Annotated[Optional[float], typer.Option(
    "--retention-days", help="With --monitor: days of posts the store keeps \\[default: 90].")]
StoreUrl = Annotated[Optional[str], typer.Option(
    "--store-url", help="With --monitor: a PostgreSQL store, postgresql://USER:PASSWORD@HOST/DB, shared by replicas (a secret in the container).")]
StoreUrlEnv = Annotated[Optional[str], typer.Option(
    "--store-url-env", help="With --monitor: the environment variable holding --store-url (keeps the password off the command line).")]


def desk_settings(monitor: bool, *, alert_below: Optional[float], recover_above: Optional[float], window: Optional[int],
                  window_seconds: Optional[float], min_count: Optional[int], threshold: Optional[float],
                  webhook: Optional[str], retention_days: Optional[float], store_url: Optional[str],
                  store_url_env: Optional[str]) -> Optional[DeskSettings]:
    """The desk's settings from the flags, or None without ``--monitor`` (its options alone are an error)."""
    given = [name for name, value in (("--alert-below", alert_below), ("--recover-above", recover_above),
                                      ("--window", window), ("--window-seconds", window_seconds), ("--min-count", min_count),
                                      ("--threshold", threshold), ("--webhook", webhook), ("--retention-days", retention_days),
                                      ("--store-url", store_url), ("--store-url-env", store_url_env)) if value is not None]
    if not monitor:
        if given:
            raise InvalidInputError(f"{', '.join(given)} go with --monitor")
        return None
    if store_url and store_url_env:
        raise InvalidInputError("pass --store-url or --store-url-env, not both")
    if store_url_env:
        store_url = os.environ.get(store_url_env)
        if not store_url:
            raise InvalidInputError(f"--store-url-env {store_url_env}: that environment variable is not set or empty")
    from ..deploy.desk import DeskSettings

    return DeskSettings(alert_below=alert_below, recover_above=recover_above, window=window, window_seconds=window_seconds,
                        min_count=min_count, threshold=threshold, retention_days=retention_days, webhook=webhook or "",
                        store_url=store_url or "").validate()
