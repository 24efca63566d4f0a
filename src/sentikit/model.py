"""Model artifacts and the local model registry (the workspace).

A model is a directory::

    models/sentiment/3/
        manifest.json      name, version, versions, parameters, data, metrics, file checksums
        pipeline.joblib    the fitted scikit-learn pipeline (training, evaluation, parity checks)
        scorer.json        the exported scoring form read by sentikit.engine (serving)

This module imports neither scikit-learn nor joblib at import time: the server
(and the container image) load and score models without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from .errors import ModelIntegrityError, ModelNotFoundError

MANIFEST_FILE = "manifest.json"
PIPELINE_FILE = "pipeline.joblib"
SCORER_FILE = "scorer.json"
MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class SklearnVersionWarning(UserWarning):
    """The model was trained with a different scikit-learn version than the one installed."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate_model_name(name: str) -> str:
    """Model names are lowercase, start with a letter or digit, and use only ``a-z0-9._-``."""
    if not MODEL_NAME_PATTERN.match(name):
        from .errors import InvalidInputError

        raise InvalidInputError(
            f"invalid model name {name!r}: use 1-63 lowercase letters, digits, '.', '_' or '-'"
        )
    return name


@dataclass
class SentimentModel:
    """A loaded model: its manifest plus a scorer, and the pipeline on demand."""

    path: Path
    manifest: dict[str, Any]
    _scorer: Any = field(default=None, repr=False)
    _pipeline: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def checksum(self) -> str:
        """SHA-256 of the serialised pipeline, the model's identity."""
        return str(self.manifest["files"][PIPELINE_FILE])

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics", {}))

    def score(self, texts: Sequence[str]) -> list[float]:
        """Probability of positive sentiment, 0.0-1.0, for each text."""
        if not texts:
            return []
        return cast(list[float], self.scorer.score(list(texts)))

    @property
    def scorer(self) -> Any:
        """The fast scorer (sentikit.engine) when exported, else the scikit-learn pipeline."""
        if self._scorer is None:
            scorer_path = self.path / SCORER_FILE
            if scorer_path.exists():
                from .engine import load_scorer

                _verify(scorer_path, self.manifest["files"].get(SCORER_FILE))
                self._scorer = load_scorer(scorer_path)
            else:
                self._scorer = _PipelineScorer(self.pipeline)
        return self._scorer

    @property
    def pipeline(self) -> Any:
        """The scikit-learn pipeline, checksum-verified before it is unpickled."""
        if self._pipeline is None:
            self._pipeline = load_pipeline(self.path, self.manifest)
        return self._pipeline


class _PipelineScorer:
    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def score(self, texts: list[str]) -> list[float]:
        return [float(p) for p in self.pipeline.predict_proba(texts)[:, 1]]


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        raise ModelIntegrityError(f"{path.parent}: manifest has no checksum for {path.name}")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{path}: checksum mismatch (manifest {expected[:12]}…, file {actual[:12]}…); "
            "the file was modified or corrupted, refusing to load it"
        )


def load_pipeline(model_dir: Path, manifest: dict[str, Any]) -> Any:
    """Verify the joblib file's SHA-256 against the manifest, then unpickle it."""
    path = model_dir / PIPELINE_FILE
    if not path.exists():
        raise ModelIntegrityError(f"{model_dir}: {PIPELINE_FILE} is missing")
    _verify(path, manifest.get("files", {}).get(PIPELINE_FILE))
    import joblib
    import sklearn

    trained_with = manifest.get("versions", {}).get("scikit-learn")
    if trained_with and trained_with != sklearn.__version__:
        warnings.warn(
            f"model {manifest.get('name')}:{manifest.get('version')} was trained with scikit-learn "
            f"{trained_with} but {sklearn.__version__} is installed; scores may differ - retrain "
            f"or install scikit-learn=={trained_with}",
            SklearnVersionWarning,
            stacklevel=2,
        )
    with warnings.catch_warnings():
        # sklearn's own InconsistentVersionWarning repeats ours with less advice.
        warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
        return joblib.load(path)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """Read and sanity-check a model directory's manifest."""
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{model_dir} is not a sentikit model (no {MANIFEST_FILE})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable manifest ({exc})") from None
    for key in ("name", "version", "files"):
        if key not in manifest:
            raise ModelIntegrityError(f"{path}: manifest lacks '{key}'")
    return cast(dict[str, Any], manifest)


def load_model(model_dir: Path) -> SentimentModel:
    """Load a model directory (manifest now; scorer and pipeline lazily, both verified)."""
    return SentimentModel(path=model_dir, manifest=read_manifest(model_dir))


# --- the workspace registry ---------------------------------------------------------------


def list_versions(workspace: Path, name: str) -> list[int]:
    """Registered versions of ``name``, ascending."""
    directory = workspace / name
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and (p / MANIFEST_FILE).is_file())


def list_models(workspace: Path) -> list[dict[str, Any]]:
    """Manifests of every registered model version, by name then version."""
    if not workspace.is_dir():
        return []
    manifests = []
    for directory in sorted(p for p in workspace.iterdir() if p.is_dir()):
        for version in list_versions(workspace, directory.name):
            manifest = read_manifest(directory / str(version))
            manifest["path"] = str(directory / str(version))
            manifests.append(manifest)
    return manifests


def resolve_model_dir(reference: str | None, workspace: Path, default_name: str) -> Path:
    """Find a model directory from a path, ``name``, ``name:version`` or nothing (latest default)."""
    if reference:
        candidate = Path(reference).expanduser()
        if (candidate / MANIFEST_FILE).is_file():
            return candidate
        if candidate.exists() or os.sep in reference or reference.startswith("."):
            raise ModelNotFoundError(f"{reference} is not a sentikit model directory (no {MANIFEST_FILE})")
    name, _, version = (reference or default_name).partition(":")
    versions = list_versions(workspace, name)
    if not versions:
        hint = "train one with `sentikit train`" if not reference else "see `sentikit models`"
        raise ModelNotFoundError(f"no model named '{name}' in workspace {workspace} ({hint})")
    if not version:
        return workspace / name / str(versions[-1])
    if not version.isdigit() or int(version) not in versions:
        raise ModelNotFoundError(
            f"model '{name}' has no version {version!r} (versions: {', '.join(map(str, versions))})"
        )
    return workspace / name / str(int(version))


def resolve_model(reference: str | None, workspace: Path, default_name: str) -> SentimentModel:
    """Load the model a user referred to (see :func:`resolve_model_dir`)."""
    return load_model(resolve_model_dir(reference, workspace, default_name))


def register_model(
    workspace: Path,
    name: str,
    write_files: Callable[[Path], dict[str, Any]],
) -> SentimentModel:
    """Write a new version of ``name`` atomically and return it.

    ``write_files(tmp_dir)`` writes the artifact files into a temporary directory
    and returns the manifest (without name, version and file checksums, which are
    added here). The directory is renamed into place only when complete, so an
    interrupted training run never leaves a half-written version behind.
    """
    validate_model_name(name)
    parent = workspace / name
    parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=parent))
    try:
        manifest = write_files(tmp_dir)
        manifest["files"] = {
            p.name: sha256_file(p) for p in sorted(tmp_dir.iterdir()) if p.name != MANIFEST_FILE
        }
        while True:
            version = (list_versions(workspace, name) or [0])[-1] + 1
            manifest = {"name": name, "version": version, **{k: v for k, v in manifest.items() if k not in ("name", "version")}}
            (tmp_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
            target = parent / str(version)
            try:
                os.rename(tmp_dir, target)  # fails if another process took this version
                break
            except OSError:
                if not target.exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return load_model(target)
