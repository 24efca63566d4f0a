"""Commands of the local journey: init, train, models, evaluate, score, explain."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from . import render as output
from .app import app, scorer_for, settings
from .options import JsonOption, LabelColumnOption, ModelOption, NegativeMaxOption, PositiveMinOption
from .options import TextColumnOption, ThresholdOption, WorkspaceOption
from .spark import FormatOption, MasterOption, OverwriteOption, SparkFlag
from .tracking import ExperimentOption, MlflowOption, log_model_run_for, render_logged, start_tracking

# The library is imported in the commands that use it: registering the commands stays cheap, so
# `sentikit score TEXT` and `sentikit serve` do not load the training and evaluation code.
if TYPE_CHECKING:
    from ..data import Dataset

FilesArgument = Annotated[
    Optional[list[str]],
    typer.Argument(help="Labelled data files (CSV, TSV, JSONL, headerless TSV, .gz), or - for stdin."),
]


def _load(files: Optional[list[str]], text_column: Optional[str], label_column: Optional[str],
          negative_max: Optional[float], positive_min: Optional[float]) -> Dataset:
    from ..data import default_training_files, load_dataset

    return load_dataset(
        files or default_training_files(),
        text_column=text_column,
        label_column=label_column,
        negative_max=negative_max,
        positive_min=positive_min,
        stdin=sys.stdin,
    )


@app.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter sentikit.toml in the current directory.

    Example:
        sentikit init
    """
    from ..config import CONFIG_FILE_NAME, write_starter_config

    path = write_starter_config(Path(CONFIG_FILE_NAME), force=force)
    output.console.print(f"wrote {path}")


@app.command()
def train(
    files: FilesArgument = None,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Model name \\[default: sentiment].")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed \\[default: 42].")] = None,
    validation: Annotated[float, typer.Option("--validation", help="Fraction held out for validation.")] = 0.1,
    c: Annotated[Optional[float], typer.Option("--C", help="Inverse regularisation strength of the classifier.")] = None,
    param: Annotated[
        Optional[list[str]],
        typer.Option("--param", "-p", help="Pipeline parameter KEY=VALUE (JSON value), repeatable; see sentikit.train.DEFAULT_PARAMS."),
    ] = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = None,
    negative_max: NegativeMaxOption = None,
    positive_min: PositiveMinOption = None,
    workspace: WorkspaceOption = None,
    mlflow: MlflowOption = None,
    experiment: ExperimentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model on labelled text and register it as a new version (and in MLflow, with --mlflow).

    With no files, trains on the bundled corpus (shipped in the package; ./data/corpus.tsv.gz wins if present).

    Example:
        sentikit train
        sentikit train reviews.csv --text-column body --label-column stars --negative-max 2 --positive-min 4
        sentikit train --param char_ngrams=null --param C=4   # word n-grams only: faster to score
        sentikit train --mlflow http://127.0.0.1:5000   # a run, and a registered version of 'sentiment'
    """
    from ..train import parse_param, resolve_params, train_model

    s = settings(workspace=workspace, model_name=name, seed=seed, mlflow_tracking_uri=mlflow, mlflow_experiment=experiment)
    overrides = dict(parse_param(p) for p in param or [])
    if c is not None:
        overrides["C"] = c
    resolve_params(overrides)  # bad parameters fail before the data is read
    tracking, experiment_id = start_tracking(s)  # an unreachable server fails before the training, not after
    dataset = _load(files, text_column, label_column, negative_max, positive_min)
    with output.status("training") as say:
        result = train_model(
            dataset,
            workspace=s.workspace_path,
            name=s.model_name,
            seed=s.seed,
            validation_fraction=validation,
            params=overrides,
            progress=say,
        )
        logged = log_model_run_for(tracking, result.model, experiment_id) if tracking else None
    output.render_train(result, as_json=as_json, mlflow=logged.to_dict() if logged else None)
    render_logged(logged)


@app.command()
def models(workspace: WorkspaceOption = None, mlflow: MlflowOption = None, as_json: JsonOption = False) -> None:
    """List the registered models and their validation metrics (with --mlflow: the server's registered versions and aliases).

    Example:
        sentikit models --json
        sentikit models --mlflow http://127.0.0.1:5000
    """
    from ..model import integrity_problem, list_models

    s = settings(workspace=workspace, mlflow_tracking_uri=mlflow)
    if s.mlflow_tracking_uri:
        from ..tracking.client import display_uri
        from ..tracking.registry import list_registered_versions
        from .tracking import render_mlflow_models

        rows = list_registered_versions(s.mlflow_tracking_uri)
        return render_mlflow_models(rows, uri=display_uri(s.mlflow_tracking_uri), as_json=as_json)
    manifests = list_models(s.workspace_path)
    output.render_models(manifests, as_json=as_json)
    for manifest in manifests:  # the table shows what manifests claim; say which would be refused
        problem = integrity_problem(Path(manifest["path"]))
        if problem:
            output.warn(f"{manifest['name']}:{manifest['version']} would be refused: {problem}")


@app.command()
def evaluate(
    files: Annotated[list[str], typer.Argument(help="Labelled data files to evaluate on, or - for stdin.")],
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write PNG plots and index.html to this directory.")] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy", help="Exit 1 if accuracy is below this.")] = None,
    min_auc: Annotated[Optional[float], typer.Option("--min-auc", help="Exit 1 if ROC AUC is below this.")] = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = None,
    negative_max: NegativeMaxOption = None,
    positive_min: PositiveMinOption = None,
    workspace: WorkspaceOption = None,
    mlflow: MlflowOption = None,
    experiment: ExperimentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure a model on labelled data: metrics per file, optional plots, CI gates (and an MLflow run, with --mlflow).

    Example:
        sentikit evaluate ../shared/datasets/sst2/dev.tsv --min-accuracy 0.85 --report report/
        sentikit evaluate dev.tsv -m models:/sentiment@champion --mlflow http://127.0.0.1:5000 --report report/
    """
    from ..data import load_dataset
    from ..evaluate import check_gate_bounds, check_gates, evaluate_model, write_report
    from ..model import resolve_model

    check_gate_bounds(min_accuracy=min_accuracy, min_auc=min_auc)  # before the work, not after
    s = settings(workspace=workspace, threshold=threshold, mlflow_tracking_uri=mlflow, mlflow_experiment=experiment)
    tracking, experiment_id = start_tracking(s)
    loaded = resolve_model(model, s.workspace_path, s.model_name, tracking_uri=s.mlflow_tracking_uri or None)
    dataset = load_dataset(files, text_column=text_column, label_column=label_column,
                           negative_max=negative_max, positive_min=positive_min, min_rows=1,
                           require_both_classes=False, stdin=sys.stdin)
    result = evaluate_model(loaded, dataset, threshold=s.threshold)
    if report is not None:
        write_report(result, report)
    logged = None
    if tracking:
        from ..tracking.runs import log_evaluation_run

        logged = log_evaluation_run(tracking, result, loaded, report_dir=report, experiment_id=experiment_id)
    output.render_evaluation(result, as_json=as_json)
    render_logged(logged)
    check_gates(result, min_accuracy=min_accuracy, min_auc=min_auc)


@app.command()
def score(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to score. With none (and no --input), reads lines from stdin.")] = None,
    model: ModelOption = None,
    input_file: Annotated[Optional[str], typer.Option("--input", "-i", help="CSV/TSV/JSONL file to score (- for stdin); same format out with score and label added.")] = None,
    output_file: Annotated[Optional[str], typer.Option("--output", "-o", help="Where --input results go \\[default: stdout].")] = None,
    text_column: TextColumnOption = None,
    threshold: ThresholdOption = None,
    url: Annotated[Optional[str], typer.Option("--url", help="Score with a running sentikit server instead of a local model.")] = None,
    spark: SparkFlag = False,
    master: MasterOption = None,
    output_format: FormatOption = None,
    overwrite: OverwriteOption = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score texts from 0.0 (negative) to 1.0 (positive).

    Example:
        sentikit score "The host was lovely and the flat spotless"
        sentikit score --input posts.csv --output scored.csv
        cat posts.txt | sentikit score --json
        sentikit score --spark --input 'posts/*.jsonl' --output scored/ --format parquet
    """
    from ..score import read_lines, score_file, score_texts

    s = settings(workspace=workspace, threshold=threshold)
    if spark or master or output_format or overwrite:
        from .spark import score_with_spark

        return score_with_spark(s, spark=spark, model=model, texts=texts, url=url, input_file=input_file, output_dir=output_file,
                                output_format=output_format, master=master, text_column=text_column, as_json=as_json,
                                overwrite=overwrite)
    scorer = scorer_for(model, url, s, texts=len(texts) if texts and input_file is None else None)
    if input_file is not None:
        with output.counter("scoring") as advance:
            summary = score_file(scorer, input_file, output_file, text_column=text_column,
                                 threshold=s.threshold, stdin=sys.stdin, on_batch=advance)
        output.render_file_summary(summary, as_json=as_json)
        return
    lines = texts if texts else read_lines(sys.stdin)
    output.render_scores(score_texts(scorer, lines, threshold=s.threshold), as_json=as_json)


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    model: ModelOption = None,
    top: Annotated[int, typer.Option("--top", help="How many n-grams to show each way.", min=1)] = 10,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the words and phrases that pushed a text's score up or down.

    Example:
        sentikit explain "Great location but the room was filthy" --top 5
    """
    from ..model import resolve_model

    s = settings(workspace=workspace)
    loaded = resolve_model(model, s.workspace_path, s.model_name)
    if not text.strip():
        from ..errors import InvalidInputError

        raise InvalidInputError("text is empty")
    output.render_explanation(loaded.load_scorer(progressive=True).explain(text, top), as_json=as_json)
