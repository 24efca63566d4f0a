"""The --mlflow and --experiment options, and what the MLflow bits of train/adapt/evaluate/models print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from . import render as output

if TYPE_CHECKING:
    from ..config import Settings
    from ..tracking.runs import LoggedRun, Tracking

MlflowOption = Annotated[
    Optional[str],
    typer.Option("--mlflow", help="MLflow tracking server to log the run to (URL, databricks, azureml://...) "
                 "\\[env: SENTIKIT_MLFLOW_URI; default: none, nothing is logged]."),
]
ExperimentOption = Annotated[
    Optional[str], typer.Option("--experiment", help="MLflow experiment of the run \\[default: sentikit].")
]


def tracking_for(s: Settings) -> Optional[Tracking]:
    """Where this command logs to, or ``None`` (no tracking server set: MLflow is neither imported nor contacted)."""
    if not s.mlflow_tracking_uri:
        return None
    from ..tracking.runs import Tracking

    return Tracking(s.mlflow_tracking_uri, s.mlflow_experiment)


def start_tracking(s: Settings) -> tuple[Optional[Tracking], Optional[str]]:
    """The tracking target and its experiment id (the server reached now), or ``(None, None)``."""
    tracking = tracking_for(s)
    if tracking is None:
        return None, None
    from ..tracking.runs import prepare

    return tracking, prepare(tracking)


def log_model_run_for(tracking: Tracking, model: Any, experiment_id: Optional[str], *, base: Any = None) -> LoggedRun:
    """Log a newly registered model's run, and register it in MLflow."""
    from ..tracking.runs import log_model_run

    return log_model_run(tracking, model, experiment_id=experiment_id, base=base)


def render_logged(run: Optional[LoggedRun]) -> None:
    """One line on stderr: the run, and the version registered from it."""
    if run is None:
        return
    registered = f", {'registered' if run.registered else 'evaluated'} {run.model_uri}" if run.model_uri else ""
    output.console.print(f"MLflow run {run.run_id} (experiment {run.experiment_id}) at {run.tracking_uri}{registered}",
                         markup=False, highlight=False)


def render_mlflow_models(rows: list[dict[str, Any]], *, uri: str, as_json: bool) -> None:
    """The registered model versions of a tracking server, with their run's metrics and aliases."""
    if as_json:
        output.emit_json(rows)
        return
    if not rows:
        output.console.print(f"no registered models in MLflow at {uri}", markup=False)
        return
    from rich import box
    from rich.table import Table

    from ..evaluate import format_metric

    table = Table("model", "aliases", "created", "accuracy", "ROC AUC", "sentikit", "run", box=box.SIMPLE)
    for r in rows:
        m = r["metrics"]
        table.add_row(r["model_uri"], " ".join(f"@{a}" for a in r["aliases"]), r["created"], format_metric(m.get("accuracy")),
                      format_metric(m.get("roc_auc")), str(r.get("sentikit_version") or ""), str(r.get("run_id") or ""))
    output.out_console.print(table)
