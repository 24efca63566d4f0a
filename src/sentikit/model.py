"""Model artifacts and the local model registry (the workspace).

A model is a directory::

    models/sentiment/3/
        manifest.json      name, version, versions, parameters, data, metrics, file checksums,
                           and a digest over all of it (an HMAC too when SENTIKIT_MODEL_KEY is set)
        pipeline.joblib    the fitted scikit-learn pipeline (retraining, parity checks); never
                           unpickled to score or serve
        scorer.json        the exported scoring form read by sentikit.engine (scoring, serving)

Loading verifies the manifest's digest (and signature) and every listed file that is present;
see :func:`verify_model_dir` and the README's "Security model".

This module imports neither scikit-learn nor joblib at import time: the server
(and the container image) load and score models without them.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, cast

from .config import MODEL_KEY_ENV_VAR, read_model_key
from .errors import ModelIntegrityError, ModelNotFoundError

MANIFEST_FILE = "manifest.json"
PIPELINE_FILE = "pipeline.joblib"
SCORER_FILE = "scorer.json"
MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# Manifest fields that seal the rest; every other field (file checksums included) is covered.
DIGEST_FIELD = "digest"
SIGNATURE_FIELD = "signature"
# Pipelines pickled before the engine became a package name their classes by the old top-level
# modules (sentikit.text.NegationTokenizer, sentikit.features.NBWeighting, ...).
LEGACY_MODULES = {f"sentikit.{name}": f"sentikit.engine.{name}"
                  for name in ("text", "lexicon", "features", "ngrams", "scorer_file", "export")}
_LEGACY_LOCK = threading.Lock()


class SklearnVersionWarning(UserWarning):
    """The model was trained with a different scikit-learn version than the one installed."""


class UnsealedModelWarning(UserWarning):
    """The model's manifest has no digest (registered by an older sentikit), so edits to it go unnoticed."""


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
        """The exported scorer (sentikit.engine), checksum-verified. Scoring never falls back to
        unpickling the pipeline: a model without a verifiable ``scorer.json`` is refused."""
        return self.load_scorer()

    def load_scorer(self, *, progressive: bool = False) -> Any:
        """:attr:`scorer`, loaded now if it is not yet; ``progressive`` defers the vocabulary dicts
        to ``scorer.finish_loading()`` (see ``engine.read_scorer``): how a server starts."""
        if self._scorer is None:
            from .engine import read_scorer

            scorer_path = self.path / SCORER_FILE
            expected = self.manifest["files"].get(SCORER_FILE)
            if expected is None or not scorer_path.is_file():
                raise ModelIntegrityError(
                    f"{self.path}: {'no exported scorer' if expected is None else f'{SCORER_FILE} is missing'}; "
                    f"scoring never unpickles {PIPELINE_FILE}, so this model cannot score (retrain it)"
                )
            # the bytes checked are the bytes parsed: nothing can change the file in between
            try:
                data = scorer_path.read_bytes()
            except OSError as exc:
                raise ModelIntegrityError(f"{scorer_path}: unreadable scorer ({exc})") from None
            _check_digest(scorer_path, expected, hashlib.sha256(data).hexdigest())
            self._scorer = read_scorer(data, source=scorer_path, progressive=progressive)
        return self._scorer

    @property
    def pipeline(self) -> Any:
        """The scikit-learn pipeline, checksum-verified before it is unpickled."""
        if self._pipeline is None:
            self._pipeline = load_pipeline(self.path, self.manifest)
        return self._pipeline


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        raise ModelIntegrityError(f"{path.parent}: manifest has no checksum for {path.name}")
    _check_digest(path, expected, sha256_file(path))


def _check_digest(path: Path, expected: str, actual: str) -> None:
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
        with _legacy_module_names():
            return joblib.load(path)


@contextmanager
def _legacy_module_names() -> Iterator[None]:
    """:data:`LEGACY_MODULES` resolve to the engine's modules while a pipeline is unpickled, and only
    then: the pickle's bytes (and so its checksum) stay as written, and no old name outlives the load."""
    with _LEGACY_LOCK:
        added = [old for old in LEGACY_MODULES if old not in sys.modules]
        try:
            for old in added:
                sys.modules[old] = importlib.import_module(LEGACY_MODULES[old])
            yield
        finally:
            for old in added:
                sys.modules.pop(old, None)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """``sha256:<hex>`` over the manifest's canonical JSON without its digest and signature.

    The manifest lists the SHA-256 of every file, so this one value covers the whole model
    directory: metrics, version, parameters and each file's contents.
    """
    body = {k: v for k, v in manifest.items() if k not in (DIGEST_FIELD, SIGNATURE_FIELD)}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sign_digest(digest: str, key: bytes) -> str:
    """``hmac-sha256:<hex>`` of a manifest digest with the team's key."""
    return "hmac-sha256:" + hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def seal_manifest(manifest: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    """``manifest`` with its digest, and with a signature when ``key`` is given."""
    sealed = {k: v for k, v in manifest.items() if k not in (DIGEST_FIELD, SIGNATURE_FIELD)}
    sealed[DIGEST_FIELD] = manifest_digest(sealed)
    if key:
        sealed[SIGNATURE_FIELD] = sign_digest(sealed[DIGEST_FIELD], key)
    return sealed


def _check_seal(model_dir: Path, manifest: dict[str, Any], key: bytes | None) -> None:
    where = model_dir / MANIFEST_FILE
    recorded = manifest.get(DIGEST_FIELD)
    if recorded is None:
        if key:
            raise ModelIntegrityError(f"{where}: the model is not signed, and {MODEL_KEY_ENV_VAR} requires signed models")
        warnings.warn(
            f"{model_dir}: the manifest has no digest (registered by an older sentikit), so edits to it "
            "cannot be detected; retrain to seal it",
            UnsealedModelWarning,
            stacklevel=3,
        )
        return
    if not isinstance(recorded, str) or not hmac.compare_digest(recorded, manifest_digest(manifest)):
        raise ModelIntegrityError(
            f"{where}: the manifest does not match its digest (edited after registration); refusing to load it"
        )
    if key:
        signature = manifest.get(SIGNATURE_FIELD)
        if not isinstance(signature, str):
            raise ModelIntegrityError(f"{where}: the model is not signed, and {MODEL_KEY_ENV_VAR} requires signed models")
        if not hmac.compare_digest(signature, sign_digest(recorded, key)):
            raise ModelIntegrityError(
                f"{where}: the signature does not match {MODEL_KEY_ENV_VAR} (signed with another key, or tampered)"
            )


def verify_model_dir(model_dir: Path, *, need: Sequence[str] = (), key: bytes | None = None) -> dict[str, Any]:
    """Check a model directory before anything reads it; return its manifest.

    Verifies the manifest's digest (and, with a key, its HMAC signature; the key defaults to
    ``SENTIKIT_MODEL_KEY``) and the SHA-256 of every listed file that is present. The files in
    ``need`` (e.g. ``scorer.json`` to serve) must be listed and present. A copy may leave out a
    file it does not need (the image has no ``pipeline.joblib``); nothing is ever substituted.

    Raises:
        ModelNotFoundError: ``model_dir`` has no manifest.
        ModelIntegrityError: the digest, the signature or a checksum does not match, or a needed
            file is missing.
    """
    manifest = read_manifest(model_dir)
    key = read_model_key() if key is None else key
    _check_seal(model_dir, manifest, key)
    files = manifest["files"]
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ModelIntegrityError(f"{model_dir / MANIFEST_FILE}: 'files' must map file names to SHA-256 checksums")
    for name in need:
        if name not in files:
            raise ModelIntegrityError(f"{model_dir}: the manifest does not list {name}")
    for name, expected in files.items():
        if name in (MANIFEST_FILE, "", ".", "..") or Path(name).name != name:
            raise ModelIntegrityError(f"{model_dir / MANIFEST_FILE}: invalid file name {name!r} in 'files'")
        path = model_dir / name
        if not path.exists() and not path.is_symlink():
            if name in need:
                raise ModelIntegrityError(f"{model_dir}: {name} is missing (the manifest lists it); refusing to load")
            continue
        if path.is_symlink() or not path.is_file():
            raise ModelIntegrityError(f"{path}: not a regular file; refusing to load it")
        _verify(path, expected)
    return manifest


def integrity_problem(model_dir: Path) -> str | None:
    """Why ``model_dir`` would be refused when loaded to score (see :func:`verify_model_dir`), or ``None``."""
    try:
        verify_model_dir(model_dir, need=(SCORER_FILE,))
    except (ModelIntegrityError, ModelNotFoundError) as exc:
        return str(exc)
    return None


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


def load_model(model_dir: Path, *, need: Sequence[str] = (SCORER_FILE,)) -> SentimentModel:
    """Load a model directory, verified now (see :func:`verify_model_dir`) so that a tampered or
    incomplete model fails here with one clear error, not later inside a server. ``need`` names the
    files the caller will read (the scorer, by default); scorer and pipeline are read lazily and
    checked again then."""
    return SentimentModel(path=model_dir, manifest=verify_model_dir(model_dir, need=need))


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


def resolve_model_dir(reference: str | None, workspace: Path, default_name: str, *, tracking_uri: str | None = None) -> Path:
    """Find a model directory from a path, ``name``, ``name:version`` or nothing (latest default),
    or an MLflow ``models:/...`` / ``runs:/...`` reference: downloaded once into the workspace's cache
    from ``tracking_uri`` (default: the settings, else ``MLFLOW_TRACKING_URI``) and verified."""
    if reference and reference.startswith(("models:/", "runs:/")):
        from .tracking.registry import fetch_model_dir

        return fetch_model_dir(reference, workspace, tracking_uri)
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


def resolve_model(reference: str | None, workspace: Path, default_name: str, *, tracking_uri: str | None = None) -> SentimentModel:
    """Load the model a user referred to (see :func:`resolve_model_dir`)."""
    return load_model(resolve_model_dir(reference, workspace, default_name, tracking_uri=tracking_uri))


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
            manifest = seal_manifest(manifest, read_model_key())
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
