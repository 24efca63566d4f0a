"""Models read from MLflow: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``runs:/RUN_ID/PATH``.

A model version is downloaded once into ``<workspace>/.mlflow/<server>/``, verified against its
sealed manifest (every listed file present and matching, the digest equal to the one recorded in
the version's tags) and only then renamed into place; a cached copy is used without contacting
the server and is verified again by every load, as any local model is.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError, InvalidInputError, ModelIntegrityError, ModelNotFoundError
from ..model import DIGEST_FIELD, MANIFEST_FILE, verify_model_dir
from . import MODEL_ARTIFACT_PATH, SENTIKIT_DATA_DIR
from .client import connect, display_uri, import_mlflow, quiet, translated
from .runs import write_sidecar

CACHE_DIR = ".mlflow"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))/?$")
_RUNS_URI = re.compile(r"^runs:/(?P<run>[0-9A-Za-z_-]+)(?:/(?P<path>.*))?$")


@dataclass(frozen=True)
class MlflowReference:
    """A parsed ``models:/`` or ``runs:/`` reference."""

    text: str
    name: str = ""
    version: Optional[int] = None
    alias: str = ""
    run_id: str = ""
    path: str = ""


def parse_reference(text: str) -> MlflowReference:
    """``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` or ``runs:/RUN_ID[/PATH]`` (PATH defaults to ``model``)."""
    match = _MODELS_URI.match(text)
    if match:
        version = match["version"]
        if version is not None and not version.isdigit():
            raise InvalidInputError(f"{text}: the version must be a number (or use models:/NAME@ALIAS)")
        return MlflowReference(text, name=match["name"], version=int(version) if version else None, alias=match["alias"] or "")
    match = _RUNS_URI.match(text)
    if match:
        path = (match["path"] or MODEL_ARTIFACT_PATH).strip("/")
        if ".." in path.split("/"):
            raise InvalidInputError(f"{text}: the artifact path may not contain '..'")
        return MlflowReference(text, run_id=match["run"], path=path or MODEL_ARTIFACT_PATH)
    raise InvalidInputError(f"{text}: expected models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH")


def server_cache(workspace: Path, uri: str) -> Path:
    """The cache folder of one tracking server inside the workspace (credentials never name it)."""
    return workspace / CACHE_DIR / ("server-" + hashlib.sha256(display_uri(uri).encode("utf-8")).hexdigest()[:12])


def _require_uri(reference: str, uri: Optional[str]) -> str:
    if not uri:
        raise ConfigError(
            f"{reference} is a model in MLflow, but no tracking server is set: give --mlflow, "
            "SENTIKIT_MLFLOW_URI, [mlflow] tracking_uri in sentikit.toml, or MLFLOW_TRACKING_URI"
        )
    return uri


def default_tracking_uri() -> str:
    """The tracking server from the settings (env, file), else MLflow's ``MLFLOW_TRACKING_URI``."""
    from ..config import load_settings, mlflow_tracking_uri

    return mlflow_tracking_uri(load_settings())


def fetch_model_dir(reference: str, workspace: Path, tracking_uri: Optional[str] = None) -> Path:
    """The verified local copy of the model an MLflow reference names, downloaded on first use.

    Raises:
        ConfigError: no tracking server is set.
        ModelNotFoundError: no such registered model, version, alias or run, or no sentikit model there.
        ModelIntegrityError: the download does not match its sealed manifest (tampered or partial).
        MlflowError / MlflowAuthError: the server is unreachable, or refused the credentials.
    """
    ref = parse_reference(reference)
    uri = _require_uri(reference, tracking_uri if tracking_uri is not None else default_tracking_uri())
    cache = server_cache(workspace, uri)
    if ref.version is not None and (cache / "models" / ref.name / str(ref.version) / MANIFEST_FILE).is_file():
        return cache / "models" / ref.name / str(ref.version)  # versions never change: no server round trip
    client = connect(uri)
    where = display_uri(uri)
    record: dict[str, Any] = {"tracking_uri": where}
    expected_digest = ""
    if ref.run_id:
        with translated(uri, missing=f"no run {ref.run_id} in MLflow at {where}"):
            client.get_run(ref.run_id)
        target = cache / "runs" / ref.run_id / re.sub(r"[^A-Za-z0-9._-]", "_", ref.path)
        source = f"runs:/{ref.run_id}/{ref.path}"
        record.update(run_id=ref.run_id, model_uri=source)
        if (target / MANIFEST_FILE).is_file():
            return target
    else:
        version = _model_version(client, ref, uri)
        number = int(version.version)
        target = cache / "models" / ref.name / str(number)
        expected_digest = (version.tags or {}).get("sentikit.digest", "")
        record.update(run_id=version.run_id, model_name=ref.name, model_version=number, model_uri=f"models:/{ref.name}/{number}")
        if (target / MANIFEST_FILE).is_file():
            return target
        with translated(uri):  # the artifacts' own location: nothing then depends on a registry URI being set
            source = str(client.get_model_version_download_uri(ref.name, str(number)))
    return _download(source, reference, uri, target, record, expected_digest)


def _model_version(client: Any, ref: MlflowReference, uri: str) -> Any:
    where = display_uri(uri)
    with translated(uri, missing=f"no registered model '{ref.name}' in MLflow at {where}"):
        registered = client.get_registered_model(ref.name)
    if ref.alias:
        aliases = dict(getattr(registered, "aliases", {}) or {})
        if ref.alias not in aliases:
            known = ", ".join(f"@{a}" for a in sorted(aliases)) or "none"
            raise ModelNotFoundError(f"model '{ref.name}' in MLflow at {where} has no alias @{ref.alias} (aliases: {known})")
        with translated(uri):
            return client.get_model_version_by_alias(ref.name, ref.alias)
    with translated(uri):
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{ref.name}'"))
    if ref.version not in versions:
        raise ModelNotFoundError(
            f"model '{ref.name}' in MLflow at {where} has no version {ref.version} "
            f"(versions: {', '.join(map(str, versions)) or 'none'})"
        )
    with translated(uri):
        return client.get_model_version(ref.name, str(ref.version))


def _sentikit_dir(root: Path) -> Optional[Path]:
    for candidate in (root / "data" / SENTIKIT_DATA_DIR, root):
        if (candidate / MANIFEST_FILE).is_file():
            return candidate
    return None


def _download(source: str, reference: str, uri: str, target: Path, record: dict[str, Any], expected_digest: str) -> Path:
    """Download ``source``, verify it, and rename its sentikit model into ``target``."""
    mlflow = import_mlflow()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=target.parent))
    try:
        with translated(uri, missing=f"{reference}: no such artifact in MLflow at {display_uri(uri)} (no sentikit model there)"), quiet():
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp), tracking_uri=uri))
        model_dir = _sentikit_dir(local)
        if model_dir is None:
            raise ModelNotFoundError(f"{reference} is not a sentikit model (no data/{SENTIKIT_DATA_DIR}/{MANIFEST_FILE} in it)")
        try:
            manifest = verify_model_dir(model_dir, need=_listed(model_dir))
        except (ModelIntegrityError, ModelNotFoundError) as exc:
            raise ModelIntegrityError(f"{reference}: refused, the download does not verify: "
                                      f"{str(exc).replace(str(model_dir), 'model')}") from None
        if expected_digest and manifest.get(DIGEST_FIELD) != expected_digest:
            raise ModelIntegrityError(
                f"{reference}: refused, its manifest is not the one registered (digest {str(manifest.get(DIGEST_FIELD))[:19]}…, "
                f"registered {expected_digest[:19]}…)"
            )
        write_sidecar(model_dir, record)
        staged = tmp / ".verified"
        os.rename(model_dir, staged)
        try:
            os.rename(staged, target)
        except OSError:
            if not (target / MANIFEST_FILE).is_file():  # else another process cached it first: use theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _listed(model_dir: Path) -> tuple[str, ...]:
    """Every file the manifest lists: a download must be complete, unlike a copy that leaves out what it does not need."""
    from ..model import read_manifest

    files = read_manifest(model_dir).get("files")
    return tuple(files) if isinstance(files, dict) else ()


def list_registered_versions(uri: str) -> list[dict[str, Any]]:
    """Every registered model version on the server: name, version, aliases, created, run, its run's metrics, tags."""
    client = connect(uri)
    rows: list[dict[str, Any]] = []
    with translated(uri):
        for registered in client.search_registered_models():
            aliases: dict[str, list[str]] = {}
            for alias, number in (getattr(registered, "aliases", {}) or {}).items():
                aliases.setdefault(str(number), []).append(alias)
            versions = client.search_model_versions(f"name='{registered.name}'")
            for version in sorted(versions, key=lambda v: int(v.version)):
                metrics: dict[str, float] = {}
                if version.run_id:
                    try:
                        metrics = dict(client.get_run(version.run_id).data.metrics)
                    except Exception:  # noqa: BLE001 - a deleted run leaves the version without metrics
                        metrics = {}
                created = datetime.fromtimestamp(int(version.creation_timestamp) / 1000, timezone.utc)
                tags = dict(version.tags or {})
                rows.append({
                    "name": registered.name, "version": int(version.version),
                    "aliases": sorted(aliases.get(str(version.version), [])),
                    "created": created.isoformat(timespec="seconds"), "status": str(version.status),
                    "run_id": version.run_id, "model_uri": f"models:/{registered.name}/{version.version}",
                    "sentikit_version": tags.get("sentikit.version"), "sentikit_model": tags.get("sentikit.model"),
                    "metrics": metrics,
                })
    return sorted(rows, key=lambda r: (r["name"], r["version"]))
