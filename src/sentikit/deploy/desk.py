"""Deploying the communications desk (``serve --monitor`` inside the image): its settings as the
container's environment, and where its store lives.

The server in the image reads the desk from ``SENTIKIT_MONITOR_*``. Its store is a SQLite file,
``/data/monitor.db`` in the image (a folder the image's user owns), or a PostgreSQL database that
several replicas share. A ``postgresql://`` URL carries a password, so it only ever travels as a
secret (a secure value on ACI, a Container Apps secret, a variable Docker keeps in the container's
config), as does the webhook URL (Slack and Teams URLs are credentials themselves).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from ..errors import DockerUnavailableError, InvalidInputError, SentikitError
from ..image.dockerfile import POSTGRES_LABEL

MONITOR_ENV = "SENTIKIT_MONITOR"
STORE_ENV = "SENTIKIT_MONITOR_STORE"
WEBHOOK_ENV = "SENTIKIT_MONITOR_WEBHOOK"
DATA_DIR = "/data"  # owned by the image's user (the Dockerfile template creates it)
IMAGE_STORE = f"{DATA_DIR}/monitor.db"
STORE_SCHEMES = ("postgresql", "postgres")
LOST_ON_RESTART = ("the desk's SQLite store lives in the container and is lost when the {where} restarts or is "
                   "re-created; pass --store-url postgresql://... to keep its history")


class EphemeralStoreWarning(UserWarning):
    """The desk's store would not outlive the container it runs in."""


class UncheckedImageWarning(UserWarning):
    """The image could not be checked for what the desk needs (the local engine does not have it)."""


@dataclass
class DeskSettings:
    """``--monitor`` and its rules, with the names and meanings of ``serve --monitor``."""

    alert_below: Optional[float] = None
    recover_above: Optional[float] = None
    window: Optional[int] = None
    window_seconds: Optional[float] = None
    min_count: Optional[int] = None
    threshold: Optional[float] = None
    retention_days: Optional[float] = None
    webhook: str = field(default="", repr=False)
    store_url: str = field(default="", repr=False)  # postgresql://...; empty: SQLite at IMAGE_STORE

    @property
    def shared(self) -> bool:
        """Whether the store is a database several replicas can share (not a file in one container)."""
        return bool(self.store_url)

    def validate(self) -> "DeskSettings":
        """The checks the server would make at start, made before anything is deployed."""
        if self.alert_below is None:
            raise InvalidInputError("--monitor needs --alert-below (the rolling mean that raises an alert), e.g. --alert-below 0.4")
        for name, value in (("--alert-below", self.alert_below), ("--recover-above", self.recover_above),
                            ("--threshold", self.threshold)):
            if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise InvalidInputError(f"{name} must be a number from 0 to 1, got {value}")
        if self.recover_above is not None and self.recover_above < self.alert_below:
            raise InvalidInputError(f"--recover-above ({self.recover_above}) is below --alert-below ({self.alert_below})")
        for name, count in (("--window", self.window), ("--min-count", self.min_count)):
            if count is not None and count < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {count}")
        for name, amount in (("--window-seconds", self.window_seconds), ("--retention-days", self.retention_days)):
            if amount is not None and not (math.isfinite(amount) and amount > 0):
                raise InvalidInputError(f"{name} must be above 0, got {amount}")
        if self.store_url:
            parts = urlsplit(self.store_url)
            if parts.scheme not in STORE_SCHEMES or not parts.hostname:
                # never echo the URL: it may hold a password
                raise InvalidInputError("--store-url must be a PostgreSQL URL, postgresql://USER@HOST[:PORT]/DATABASE "
                                        "(the password in it or in PGPASSWORD)")
        if self.webhook and urlsplit(self.webhook).scheme not in ("http", "https"):
            raise InvalidInputError("--webhook must be an http:// or https:// URL")
        return self

    def env(self) -> dict[str, str]:
        """The plain variables: the switch and the rules (the SQLite path when there is no URL)."""
        values: dict[str, str] = {MONITOR_ENV: "1"}
        for name, value in (("ALERT_BELOW", self.alert_below), ("RECOVER_ABOVE", self.recover_above),
                            ("WINDOW", self.window), ("WINDOW_SECONDS", self.window_seconds),
                            ("MIN_COUNT", self.min_count), ("THRESHOLD", self.threshold),
                            ("RETENTION_DAYS", self.retention_days)):
            if value is not None:
                values[f"{MONITOR_ENV}_{name}"] = f"{value:g}" if isinstance(value, float) else str(value)
        if not self.store_url:
            values[STORE_ENV] = IMAGE_STORE
        return values

    def secrets(self) -> dict[str, str]:
        """The secret variables: the store URL and the webhook."""
        return {**({STORE_ENV: self.store_url} if self.store_url else {}),
                **({WEBHOOK_ENV: self.webhook} if self.webhook else {})}


def describe_store(desk: DeskSettings, *, kept_in: str = "") -> str:
    """Where the desk's store is, for the result (never the URL itself)."""
    if desk.shared:
        return "PostgreSQL (--store-url, passed as a secret)"
    return f"SQLite {IMAGE_STORE} on {kept_in}" if kept_in else f"SQLite {IMAGE_STORE} in the container (lost on restart)"


def warn_if_ephemeral(desk: DeskSettings | None, where: str) -> None:
    """Say, before deploying, that a SQLite store in a container without a volume loses its history."""
    if desk is not None and not desk.shared:
        warnings.warn(LOST_ON_RESTART.format(where=where), EphemeralStoreWarning, stacklevel=3)


def volume_name(deployment: str) -> str:
    """The named Docker volume that keeps a local deployment's SQLite store across deployments."""
    return f"{deployment}-monitor"


def check_image_for_store(desk: DeskSettings | None, image: str) -> None:
    """Refuse a PostgreSQL-backed desk an image built without psycopg (no :data:`POSTGRES_LABEL`).

    The image is read from the local Docker engine, where a build-then-push leaves it; an image the
    engine does not have (or no engine) cannot be checked, which is said and not refused.
    """
    if desk is None or not desk.shared:
        return
    from ..docker_engine import docker_client, local_image

    try:
        labels = (local_image(docker_client(timeout=10), image, hint="").labels or {})
    except (DockerUnavailableError, InvalidInputError) as exc:
        reason = "no Docker engine to read it from" if isinstance(exc, DockerUnavailableError) else \
            "it is not in the local Docker engine"
        warnings.warn(f"could not check that {image} has psycopg for the PostgreSQL store ({reason}); "
                      "it needs an image built with `sentikit build --postgres`", UncheckedImageWarning, stacklevel=3)
        return
    except SentikitError as exc:  # the engine failed reading it
        warnings.warn(f"could not check that {image} has psycopg for the PostgreSQL store ({exc})",
                      UncheckedImageWarning, stacklevel=3)
        return
    if labels.get(POSTGRES_LABEL) != "true":
        raise InvalidInputError(f"{image} has no psycopg for the desk's PostgreSQL store (--store-url): "
                                "rebuild it with `sentikit build --postgres`")
