"""The ``python_function`` flavour of a sentikit model: ``predict`` is sentikit's own scorer.

The MLflow Model holds the sealed sentikit model directory under ``data/sentikit-model``; MLflow
loads it through this module's ``_load_pyfunc`` (a ``loader_module``: no pickled Python object
in the artifacts), which verifies it as ``sentikit score`` would.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from ..model import MANIFEST_FILE, SentimentModel, load_model
from . import MODEL_ARTIFACT_PATH, SENTIKIT_DATA_DIR

INPUT_COLUMN = "text"


class SentikitPyfunc:
    """What ``mlflow.pyfunc.load_model`` returns the scores of: a positive-sentiment probability per text."""

    def __init__(self, model: SentimentModel) -> None:
        self.model = model

    def predict(self, model_input: Any, params: Optional[dict[str, Any]] = None) -> Any:
        """Scores (float64, 0.0-1.0) for a DataFrame with a ``text`` column, a Series or a list of strings."""
        import numpy

        return numpy.asarray(self.model.score(_texts(model_input)), dtype=numpy.float64)


def _texts(model_input: Any) -> list[str]:
    columns = getattr(model_input, "columns", None)
    if columns is not None:
        column = INPUT_COLUMN if INPUT_COLUMN in columns else columns[0]
        return [str(v) for v in model_input[column].tolist()]
    if hasattr(model_input, "tolist"):
        model_input = model_input.tolist()
    if isinstance(model_input, str):
        return [model_input]
    return [str(v) for v in model_input]


def _load_pyfunc(data_path: str) -> SentikitPyfunc:
    """MLflow's entry point (``loader_module``): the verified model in ``data_path``."""
    return SentikitPyfunc(load_model(Path(data_path)))


def pip_requirements() -> list[str]:
    """sentikit and what the logged model needs beside it, pinned to the versions installed here:
    the scorer is pure Python; scikit-learn unpickles ``pipeline.joblib`` (retraining, parity);
    pandas carries MLflow's input and output."""
    pinned = []
    for name in ("sentikit", "scikit-learn", "numpy", "pandas"):
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            if name == "sentikit":
                raise
    return pinned


def log_mlflow_model(model: SentimentModel) -> Any:
    """Log ``model`` as an MLflow Model (``python_function``) in the active run; its ``ModelInfo``.

    Only the files the sealed manifest lists travel (with the manifest): the copy verifies as the
    original does, and nothing else (a sidecar, an editor's backup) goes along.
    """
    import mlflow

    try:
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema
    except ImportError:  # mlflow-skinny leaves them out without pandas
        from ..errors import EnvironmentNotReadyError

        raise EnvironmentNotReadyError("logging a model to MLflow needs pandas: pip install 'sentikit[mlflow]'") from None

    signature = ModelSignature(inputs=Schema([ColSpec("string", INPUT_COLUMN)]), outputs=Schema([ColSpec("double")]))
    with tempfile.TemporaryDirectory(prefix="sentikit-mlflow-") as tmp:
        # MLflow names the data directory after its source: stage the model under a fixed name.
        source = Path(tmp) / SENTIKIT_DATA_DIR
        source.mkdir()
        for name in [MANIFEST_FILE, *model.manifest["files"]]:
            if (model.path / name).is_file():
                shutil.copyfile(model.path / name, source / name)
        return mlflow.pyfunc.log_model(name=MODEL_ARTIFACT_PATH, loader_module=__name__, data_path=str(source),
                                       signature=signature, pip_requirements=pip_requirements())
