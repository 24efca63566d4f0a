"""sentikit: train, evaluate, score, serve, containerise and deploy a sentiment model.

The public API is re-exported here and loaded on first use, so ``import sentikit`` stays cheap
(the server image imports it without scikit-learn, Typer or the cloud SDKs installed).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SentikitError": "errors",
    "ExitCode": "errors",
    "Settings": "config",
    "load_settings": "config",
    "Dataset": "data",
    "load_dataset": "data",
    "default_training_files": "data",
    "train_model": "train",
    "evaluate_model": "evaluate",
    "SentimentModel": "model",
    "load_model": "model",
    "resolve_model": "model",
    "list_models": "model",
    "score_texts": "score",
    "score_file": "score",
    "RemoteScorer": "remote",
    "create_app": "server",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sentikit' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
