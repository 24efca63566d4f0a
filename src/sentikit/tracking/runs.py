"""Runs on an MLflow tracking server: one per train/adapt (the model logged and registered), one per evaluation."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import time
from contextlib import redirect_stderr
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import __version__
from .._atomic import atomic_output
from ..errors import MlflowAuthError, MlflowError
from ..model import DIGEST_FIELD, SentimentModel
from . import SIDECAR_FILE
from .client import connect, display_uri, import_mlflow, quiet, translated

if TYPE_CHECKING:
    from ..evaluate import EvaluationReport

# MLflow's limits: a param value holds 6,000 characters, a tag value 8,000.
_PARAM_CHARS = 6000
_METRIC_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass(frozen=True)
class Tracking:
    """Where runs go: a tracking server and an experiment (created on first use)."""

    uri: str
    experiment: str = "sentikit"


@dataclass
class LoggedRun:
    """A run logged to MLflow and, for train/adapt, the model version registered from it."""

    tracking_uri: str  # without credentials
    experiment_id: str
    run_id: str
    model_name: Optional[str] = None
    model_version: Optional[int] = None
    registered: bool = True  # False: an evaluation run, of the model version named

    @property
    def model_uri(self) -> Optional[str]:
        return f"models:/{self.model_name}/{self.model_version}" if self.model_name and self.model_version else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "model_uri": self.model_uri}


def prepare(tracking: Tracking) -> str:
    """Reach the server and find (or create) the experiment; its id. Called before the work, so an
    unreachable server or refused credentials fail in seconds rather than after training."""
    client = connect(tracking.uri)
    with translated(tracking.uri):
        experiment = client.get_experiment_by_name(tracking.experiment)
        if experiment is not None:
            return str(experiment.experiment_id)
        return str(client.create_experiment(tracking.experiment))


def read_sidecar(model_dir: Path) -> dict[str, Any]:
    """Where a model lives in MLflow (``mlflow.json`` beside its manifest), or ``{}``."""
    try:
        value = json.loads((model_dir / SIDECAR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_sidecar(model_dir: Path, record: Mapping[str, Any]) -> None:
    with atomic_output(model_dir / SIDECAR_FILE) as handle:
        handle.write(json.dumps(dict(record), indent=2, sort_keys=True) + "\n")


def git_commit(cwd: Optional[Path] = None) -> Optional[str]:
    """The commit checked out in ``cwd`` (default: the current directory) when it is inside a git repository."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def _flat_numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        name = _METRIC_KEY.sub("_", f"{prefix}{key}")
        if isinstance(value, Mapping):
            out.update(_flat_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def model_params(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every pipeline parameter, the seed and the validation split of a manifest, as MLflow params."""
    params: dict[str, Any] = dict(manifest.get("params") or {})
    for key in ("seed", "validation_fraction"):
        if key in manifest:
            params[key] = manifest[key]
    lineage = manifest.get("lineage") or {}
    if "user_weight" in lineage:
        params["user_weight"] = lineage["user_weight"]
    if isinstance(manifest.get("calibration"), Mapping):
        params["calibration"] = manifest["calibration"].get("kind")
    return {k: (v if isinstance(v, str) else json.dumps(v))[:_PARAM_CHARS] for k, v in params.items()}


def model_tags(model: SentimentModel, base: Optional[SentimentModel]) -> dict[str, str]:
    """The run's tags: sentikit's version, the model, each training file's SHA-256 and rows, the base, the commit."""
    manifest = model.manifest
    tags = {"sentikit.version": __version__, "sentikit.model": model.reference,
            "sentikit.kind": "adapt" if "lineage" in manifest else "train",
            "sentikit.digest": str(manifest.get(DIGEST_FIELD, ""))}
    for i, entry in enumerate((manifest.get("data") or {}).get("files", [])):
        for key in ("path", "sha256", "rows"):
            if key in entry:
                tags[f"sentikit.data.{i}.{key}"] = str(entry[key])
    if base is not None:
        tags["sentikit.base"] = base.reference
        tags["sentikit.base.checksum"] = base.checksum
        origin = read_sidecar(base.path)
        for key in ("run_id", "model_uri"):
            if origin.get(key):
                tags[f"sentikit.base.{key}"] = str(origin[key])
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def log_model_run(tracking: Tracking, model: SentimentModel, *, experiment_id: Optional[str] = None,
                  base: Optional[SentimentModel] = None) -> LoggedRun:
    """Log one run for a freshly registered local model, log it as an MLflow Model, and register it
    under the model's name; record the run and version beside the model (``mlflow.json``).

    The version is registered only once the model's artifacts are uploaded, so a failed upload
    leaves no version behind (the run is marked FAILED).
    """
    mlflow = import_mlflow()
    try:
        return _log_model_run(mlflow, tracking, model, experiment_id or prepare(tracking), base)
    except (MlflowError, MlflowAuthError) as exc:  # the local model stays: say so
        raise type(exc)(f"{model.reference} is registered locally ({model.path}) but not in MLflow: {exc}") from None


def _log_model_run(mlflow: Any, tracking: Tracking, model: SentimentModel, experiment_id: str,
                   base: Optional[SentimentModel]) -> LoggedRun:
    from mlflow.entities import Metric, Param

    from .pyfunc import log_mlflow_model

    client = connect(tracking.uri)
    now = int(time.time() * 1000)
    with translated(tracking.uri), quiet():
        run = client.create_run(experiment_id, run_name=model.reference.replace(":", "-v"),
                                tags=model_tags(model, base))
        run_id = run.info.run_id
        try:
            params = model_params(model.manifest)
            metrics = _flat_numbers(model.metrics)
            client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                             metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
            with mlflow.start_run(run_id=run_id):
                info = log_mlflow_model(model)
                with redirect_stderr(io.StringIO()):  # "Created version '1'...": sentikit says it in its own line
                    version = mlflow.register_model(
                        info.model_uri, model.name, await_registration_for=60,
                        tags={"sentikit.version": __version__, "sentikit.model": model.reference,
                              "sentikit.digest": str(model.manifest.get(DIGEST_FIELD, ""))},
                    )
        except BaseException:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # noqa: BLE001 - the original failure is what the user needs to read
                pass
            raise
    logged = LoggedRun(display_uri(tracking.uri), experiment_id, run_id, model.name, int(version.version))
    write_sidecar(model.path, logged.to_dict())
    return logged


def _file_keys(paths: list[str]) -> list[str]:
    """A metric-key prefix per evaluated file: its name, numbered when two files share one."""
    names = [_METRIC_KEY.sub("_", Path(p).name or "stdin") for p in paths]
    return [f"{n}" if names.count(n) == 1 else f"{i}.{n}" for i, n in enumerate(names)]


def log_evaluation_run(tracking: Tracking, report: EvaluationReport, model: SentimentModel, *,
                       report_dir: Optional[Path] = None, experiment_id: Optional[str] = None) -> LoggedRun:
    """A new run with the metrics of every evaluated file (``<file>.<metric>``) and of all files
    together, the ``--report`` plots and HTML as artifacts, tagged with the model version it measured."""
    import_mlflow()
    from mlflow.entities import Metric, Param

    experiment_id = experiment_id or prepare(tracking)
    client = connect(tracking.uri)
    origin = read_sidecar(model.path)
    tags = {"sentikit.version": __version__, "sentikit.kind": "evaluate", "sentikit.model": model.reference,
            "sentikit.digest": str(model.manifest.get(DIGEST_FIELD, ""))}
    for key in ("run_id", "model_uri"):
        if origin.get(key):
            tags[f"sentikit.evaluated.{key}"] = str(origin[key])
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    now = int(time.time() * 1000)
    metrics = _flat_numbers(report.metrics)
    for key, entry in zip(_file_keys([f.path for f in report.files]), report.files):
        metrics.update(_flat_numbers(entry.metrics, f"{key}."))
    with translated(tracking.uri), quiet():
        run = client.create_run(experiment_id, run_name=f"evaluate-{model.reference.replace(':', '-v')}", tags=tags)
        run_id = run.info.run_id
        try:
            params = {"threshold": str(report.threshold), "files": json.dumps([f.path for f in report.files])[:_PARAM_CHARS]}
            client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                             metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
            if report_dir is not None:
                client.log_artifacts(run_id, str(report_dir), "report")
        except BaseException:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # noqa: BLE001
                pass
            raise
        client.set_terminated(run_id, "FINISHED")
    return LoggedRun(display_uri(tracking.uri), experiment_id, run_id, origin.get("model_name"), origin.get("model_version"),
                     registered=False)
