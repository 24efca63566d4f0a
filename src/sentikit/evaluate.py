"""Evaluation: metrics per input file, plots and an HTML report, and quality gates for CI."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from .data import Dataset
from .errors import CheckFailedError
from .model import SentimentModel
from .score import check_fraction, check_threshold

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")


def compute_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, ROC AUC, log loss, Brier score and the confusion matrix.

    Metrics that are undefined for the data (ROC AUC with one class) are ``None``.
    """
    import numpy
    from sklearn import metrics as skm

    y = numpy.asarray(labels, dtype=int)
    p = numpy.asarray(scores, dtype=float)
    predicted = (p >= threshold).astype(int)
    both_classes = len(set(y.tolist())) == 2
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(y, predicted, labels=[0, 1]).ravel())
    return {
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y, p)) if both_classes else None,
        "log_loss": float(skm.log_loss(y, numpy.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p, pos_label=1)),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def reliability(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error (equal-width bins) and each non-empty bin's count, mean score, observed rate."""
    import numpy

    y = numpy.asarray(labels, dtype=float)
    p = numpy.asarray(scores, dtype=float)
    which = numpy.clip((p * bins).astype(int), 0, bins - 1)
    ece, table = 0.0, []
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean_score, observed = float(p[mask].mean()), float(y[mask].mean())
            ece += float(mask.mean()) * abs(mean_score - observed)
            table.append({"low": b / bins, "high": (b + 1) / bins, "rows": int(mask.sum()), "mean_score": mean_score, "observed": observed})
    return float(ece), table


BOOTSTRAP_METRICS = ("accuracy", "f1_negative", "roc_auc", "ece")


def _point_metrics(y: Any, p: Any, threshold: float, ranks: Any = None) -> dict[str, Optional[float]]:
    """The bootstrap's metrics in plain NumPy (sklearn's per-call checks made 1,000 rounds take 20 s)."""
    import numpy
    from scipy.stats import rankdata

    predicted = p >= threshold
    negative = y == 0
    tn = int(numpy.sum(~predicted & negative))
    fn_neg = int(numpy.sum(predicted & negative))  # negatives called positive
    fp_neg = int(numpy.sum(~predicted & ~negative))  # positives called negative
    f1_negative = 2 * tn / (2 * tn + fn_neg + fp_neg) if tn else 0.0
    positives = int(numpy.sum(~negative))
    auc = None
    if 0 < positives < len(y):
        r = rankdata(p) if ranks is None else ranks
        auc = float((numpy.sum(r[~negative]) - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))
    bins = numpy.clip((p * 10).astype(int), 0, 9)
    count = numpy.bincount(bins, minlength=10)
    gap = numpy.abs(numpy.bincount(bins, weights=p, minlength=10) - numpy.bincount(bins, weights=y.astype(float), minlength=10))
    return {
        "accuracy": float(numpy.mean(predicted == ~negative)),
        "f1_negative": float(f1_negative),
        "roc_auc": auc,
        "ece": float(numpy.sum(gap[count > 0]) / len(y)),
    }


def bootstrap_metrics(labels: Sequence[int], scores: Sequence[float], *, threshold: float = 0.5, rounds: int = 1000,
                      seed: int = 42) -> dict[str, dict[str, Optional[float]]]:
    """Accuracy, negative-class F1, ROC AUC and calibration error, each with a bootstrap 95% interval.

    ``{"accuracy": {"value": v, "low": l, "high": h}, ...}``: the percentile interval over ``rounds``
    resamples of the rows with replacement (fixed seed: the same data gives the same interval).
    """
    import numpy

    y = numpy.asarray(labels, dtype=int)
    p = numpy.asarray(scores, dtype=float)
    point = _point_metrics(y, p, threshold)
    rng = numpy.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in BOOTSTRAP_METRICS}
    for _ in range(rounds):
        rows = rng.integers(0, len(y), len(y))
        for name, value in _point_metrics(y[rows], p[rows], threshold).items():
            if value is not None:
                samples[name].append(value)
    out: dict[str, dict[str, Optional[float]]] = {}
    for name in BOOTSTRAP_METRICS:
        values = samples[name]
        low, high = (float(v) for v in numpy.percentile(values, [2.5, 97.5])) if values else (None, None)
        out[name] = {"value": point[name], "low": low, "high": high}
    return out


@dataclass
class FileMetrics:
    """Metrics for one input file."""

    path: str
    metrics: dict[str, Any]


@dataclass
class EvaluationReport:
    """What `sentikit evaluate` measured: overall and per file."""

    model: str
    threshold: float
    metrics: dict[str, Any]
    files: list[FileMetrics]
    report_dir: Optional[str] = None
    _labels: list[int] = field(default_factory=list, repr=False)
    _scores: list[float] = field(default_factory=list, repr=False)
    # the model's scores without its calibration (models from `sentikit adapt`); empty when it has none
    _uncalibrated: list[float] = field(default_factory=list, repr=False)


def evaluate_model(model: SentimentModel, dataset: Dataset, *, threshold: float = 0.5) -> EvaluationReport:
    """Score ``dataset`` with ``model`` (the same scorer `score` and `serve` use) and measure it."""
    check_threshold(threshold)
    scores = model.score(dataset.texts)
    per_file = []
    if len(dataset.files) > 1:
        for index, source in enumerate(dataset.files):
            rows = [i for i, origin in enumerate(dataset.origins) if origin == index]
            per_file.append(
                FileMetrics(
                    source.path,
                    compute_metrics([dataset.labels[i] for i in rows], [scores[i] for i in rows], threshold),
                )
            )
    else:
        per_file.append(FileMetrics(dataset.files[0].path, compute_metrics(dataset.labels, scores, threshold)))
    overall = per_file[0].metrics if len(per_file) == 1 else compute_metrics(dataset.labels, scores, threshold)
    uncalibrated: list[float] = []
    scorer = model.scorer
    if getattr(scorer, "calibration", None) is not None:
        from .engine.scorer import _sigmoid

        uncalibrated = [_sigmoid(scorer.logit(text)) for text in dataset.texts]
    return EvaluationReport(model.reference, threshold, overall, per_file, None, list(dataset.labels), scores, uncalibrated)


def check_gate_bounds(*, min_accuracy: float | None, min_auc: float | None) -> None:
    """Refuse a gate that is not a number from 0 to 1 (NaN would pass every comparison): a usage error."""
    if min_accuracy is not None:
        check_fraction(min_accuracy, "--min-accuracy")
    if min_auc is not None:
        check_fraction(min_auc, "--min-auc")


def check_gates(report: EvaluationReport, *, min_accuracy: float | None, min_auc: float | None) -> None:
    """Raise CheckFailedError when a metric is below its gate (exit code 1 for CI).

    Raises:
        InvalidInputError: a gate is invalid (see :func:`check_gate_bounds`).
    """
    check_gate_bounds(min_accuracy=min_accuracy, min_auc=min_auc)
    failures = []
    accuracy, auc = report.metrics["accuracy"], report.metrics["roc_auc"]
    if min_accuracy is not None and accuracy < min_accuracy:
        failures.append(f"accuracy {accuracy:.4f} < {min_accuracy}")
    if min_auc is not None and (auc is None or auc < min_auc):
        failures.append(f"ROC AUC {'undefined' if auc is None else f'{auc:.4f}'} < {min_auc}")
    if failures:
        raise CheckFailedError("quality gate failed: " + "; ".join(failures))


# --- the HTML/PNG report -------------------------------------------------------------------

PLOTS = {
    "roc.png": "ROC curve",
    "precision_recall.png": "Precision-recall curve",
    "calibration.png": "Calibration (reliability)",
    "score_histogram.png": "Score distribution by true label",
}


def write_report(report: EvaluationReport, directory: Path) -> Path:
    """Write PNG plots and an ``index.html`` that shows them; return the HTML path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    from ._atomic import atomic_output, output_directory

    output_directory(directory)
    y = numpy.asarray(report._labels)
    p = numpy.asarray(report._scores)
    both = len(set(y.tolist())) == 2

    def save(figure: Any, name: str) -> None:
        with atomic_output(directory / name, binary=True) as handle:
            figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
        plt.close(figure)

    fig, ax = plt.subplots(figsize=(5, 4.5))
    if both:
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"AUC = {report.metrics['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC")
    ax.legend(loc="lower right")
    save(fig, "roc.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    if both:
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision)
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    save(fig, "precision_recall.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    if both:
        if report._uncalibrated:
            raw = numpy.asarray(report._uncalibrated)
            fraction, mean_predicted = calibration_curve(y, raw, n_bins=10, strategy="uniform")
            ax.plot(mean_predicted, fraction, "s--", color="tab:orange",
                    label=f"before calibration (ECE = {reliability(y.tolist(), raw.tolist())[0]:.3f})")
        fraction, mean_predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
        name = "after calibration" if report._uncalibrated else "model"
        ax.plot(mean_predicted, fraction, "o-", color="tab:blue",
                label=f"{name} (ECE = {reliability(y.tolist(), p.tolist())[0]:.3f}, Brier = {report.metrics['brier']:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.set(xlabel="Mean predicted score", ylabel="Fraction positive", title="Calibration")
    ax.legend(loc="upper left")
    save(fig, "calibration.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    bins = [i / 20 for i in range(21)]
    ax.hist(p[y == 0], bins=bins, alpha=0.6, label="negative", color="tab:red")
    ax.hist(p[y == 1], bins=bins, alpha=0.6, label="positive", color="tab:green")
    ax.axvline(report.threshold, color="black", linewidth=1, linestyle=":")
    ax.set(xlabel="Score", ylabel="Texts", title="Scores by true label")
    ax.legend()
    save(fig, "score_histogram.png")

    html_path = directory / "index.html"
    with atomic_output(html_path) as handle:
        handle.write(_render_html(report))
    report.report_dir = str(directory)
    return html_path


def format_metric(value: Any) -> str:
    """Metrics as shown to people: 4 decimals, '—' when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _reliability_html(report: EvaluationReport) -> str:
    """The reliability diagram as a table: per score bin, the observed rate before and after calibration."""
    ece, table = reliability(report._labels, report._scores)
    before = {}
    ece_before = None
    if report._uncalibrated:
        ece_before, rows = reliability(report._labels, report._uncalibrated)
        before = {(r["low"], r["high"]): r for r in rows}
    head = "<tr><th>score bin</th>" + ("<th>texts before</th><th>observed before</th>" if before else "") + "<th>texts</th><th>mean score</th><th>observed positive</th></tr>"
    lines = []
    bins = sorted({(r["low"], r["high"]) for r in table} | set(before))
    after = {(r["low"], r["high"]): r for r in table}
    for key in bins:
        cells = [f"{key[0]:.1f}-{key[1]:.1f}"]
        if before:
            b = before.get(key)
            cells += [str(b["rows"]), f"{b['observed']:.3f}"] if b else ["0", "—"]
        a = after.get(key)
        cells += [str(a["rows"]), f"{a['mean_score']:.3f}", f"{a['observed']:.3f}"] if a else ["0", "—", "—"]
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    title = "Reliability before and after calibration" if before else "Reliability"
    summary = f"ECE {ece:.3f}" + (f" (before calibration {ece_before:.3f})" if ece_before is not None else "")
    return f"<h2>{title}</h2><p>{summary}</p><table>{head}{''.join(lines)}</table>"


def _render_html(report: EvaluationReport) -> str:
    header = "".join(f"<th>{name}</th>" for name in ("file", "rows", *METRIC_NAMES))
    rows = []
    sections = report.files if len(report.files) == 1 else [*report.files, FileMetrics("all files", report.metrics)]
    for item in sections:
        cells = [html.escape(item.path), str(item.metrics["rows"])] + [format_metric(item.metrics[m]) for m in METRIC_NAMES]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    c = report.metrics["confusion"]
    figures = "".join(
        f'<figure><img src="{name}" alt="{html.escape(title)}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for name, title in PLOTS.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sentikit evaluation: {html.escape(report.model)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}td:first-child{{text-align:left}}
figure{{display:inline-block;margin:1rem}}img{{max-width:480px}}</style></head>
<body><h1>Evaluation of {html.escape(report.model)}</h1>
<p>Threshold {report.threshold}. Scores run from 0 (negative) to 1 (positive).</p>
<table><tr>{header}</tr>{''.join(rows)}</table>
<h2>Confusion matrix (all files)</h2>
<table><tr><th></th><th>predicted negative</th><th>predicted positive</th></tr>
<tr><td>actual negative</td><td>{c['tn']}</td><td>{c['fp']}</td></tr>
<tr><td>actual positive</td><td>{c['fn']}</td><td>{c['tp']}</td></tr></table>
{_reliability_html(report)}
{figures}
</body></html>
"""
