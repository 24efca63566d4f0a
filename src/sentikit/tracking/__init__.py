"""Experiments, runs and a shared model registry on MLflow (Azure ML and Databricks speak it too).

- :mod:`.runs`: log a train/adapt run (parameters, metrics, tags, the model as an MLflow Model)
  and register it; log an evaluation run linked to the model version.
- :mod:`.registry`: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` and ``runs:/RUN_ID/PATH``
  downloaded once into the workspace's cache and verified against the sealed manifest; the
  registered versions with their metrics and aliases.
- :mod:`.pyfunc`: the ``python_function`` flavour (``mlflow models serve``, ``spark_udf``).
- :mod:`.client`: the MLflow client, and its exceptions translated into sentikit's.

Nothing here imports MLflow at import time; only a command given a tracking server does.
"""

from __future__ import annotations

# The MLflow Model's artifact path inside a run, and the sentikit model directory inside it.
MODEL_ARTIFACT_PATH = "model"
SENTIKIT_DATA_DIR = "sentikit-model"
# Beside manifest.json in a local or cached model: where it lives in MLflow. Not a model file
# (the manifest does not list it): the registry assigns the version only after the sealed
# directory has been uploaded, so no sealed field can hold it.
SIDECAR_FILE = "mlflow.json"
REFERENCE_PREFIXES = ("models:/", "runs:/")


def is_mlflow_reference(reference: str | None) -> bool:
    """``models:/...`` or ``runs:/...``: a model in an MLflow tracking server."""
    return bool(reference) and str(reference).startswith(REFERENCE_PREFIXES)
