import json
import shutil
import warnings
from pathlib import Path

import pytest

from sentikit.errors import ModelIntegrityError, ModelNotFoundError
from sentikit.model import (
    MANIFEST_FILE,
    PIPELINE_FILE,
    SklearnVersionWarning,
    list_models,
    load_model,
    resolve_model_dir,
    seal_manifest,
    sha256_file,
)


def copy_model(source: Path, workspace: Path, name: str, version: int) -> Path:
    target = workspace / name / str(version)
    shutil.copytree(source, target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest.update(name=name, version=version)
    (target / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest)))  # as registering it would
    return target


def test_manifest_records_checksums_versions_and_data(trained_model_dir: Path) -> None:
    manifest = json.loads((trained_model_dir / MANIFEST_FILE).read_text())
    assert manifest["name"] == "sentiment" and manifest["version"] == 1
    for file_name, digest in manifest["files"].items():
        assert sha256_file(trained_model_dir / file_name) == digest
    assert set(manifest["versions"]) == {"sentikit", "scikit-learn", "python"}
    assert manifest["data"]["files"][0]["rows"] == 600
    assert len(manifest["data"]["files"][0]["sha256"]) == 64
    assert 0.5 < manifest["metrics"]["accuracy"] <= 1.0


def test_resolve_by_path_name_version_and_default(trained_model_dir: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    v1 = copy_model(trained_model_dir, workspace, "sentiment", 1)
    v2 = copy_model(trained_model_dir, workspace, "sentiment", 2)
    copy_model(trained_model_dir, workspace, "tweets", 1)
    assert resolve_model_dir(None, workspace, "sentiment") == v2
    assert resolve_model_dir("sentiment:1", workspace, "sentiment") == v1
    assert resolve_model_dir("tweets", workspace, "sentiment") == workspace / "tweets" / "1"
    assert resolve_model_dir(str(v1), workspace, "other") == v1
    assert [f"{m['name']}:{m['version']}" for m in list_models(workspace)] == ["sentiment:1", "sentiment:2", "tweets:1"]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nope", "no model named 'nope' in workspace"),
        ("sentiment:9", "model 'sentiment' has no version '9' (versions: 1)"),
        ("sentiment:latest", "model 'sentiment' has no version 'latest'"),
        ("./missing/dir", "is not a sentikit model directory"),
    ],
)
def test_unknown_model_references_are_clear_errors(trained_model_dir: Path, tmp_path: Path, reference: str, message: str) -> None:
    copy_model(trained_model_dir, tmp_path, "sentiment", 1)
    with pytest.raises(ModelNotFoundError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_model_dir(reference, tmp_path, "sentiment")


def test_empty_workspace_tells_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="train one with `sentikit train`"):
        resolve_model_dir(None, tmp_path, "sentiment")


def test_tampered_pipeline_is_refused_before_unpickling(trained_model_dir: Path, tmp_path: Path) -> None:
    target = copy_model(trained_model_dir, tmp_path, "sentiment", 1)
    with open(target / PIPELINE_FILE, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(target).pipeline


def test_scikit_learn_version_mismatch_warns(trained_model_dir: Path, tmp_path: Path) -> None:
    target = copy_model(trained_model_dir, tmp_path, "sentiment", 1)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest["versions"]["scikit-learn"] = "0.24.2"
    (target / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest)))  # a genuine model from an older install
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(target).pipeline
    assert any(issubclass(w.category, SklearnVersionWarning) and "trained with scikit-learn 0.24.2" in str(w.message) for w in caught)


def test_scorer_agrees_with_pipeline(trained_model: object) -> None:
    texts = ["I loved it", "Terrible, broken on arrival", "ok"]
    expected = trained_model.pipeline.predict_proba(texts)[:, 1]  # type: ignore[attr-defined]
    assert trained_model.score(texts) == pytest.approx(list(expected), abs=1e-9)  # type: ignore[attr-defined]


# Written by sentikit at commit 7b59f09, before the engine became a package: its pickle names
# sentikit.text.NegationTokenizer / SocialNormalizer and sentikit.features.LexiconFeatures / NBWeighting.
OLD_MODEL = Path(__file__).resolve().parent / "fixtures" / "model-before-engine-package"
OLD_TEXTS = ["What a lovely stay :)", "Never again, not good at all!!", "it was ok I guess", "@bob the food was gooood #yum"]
OLD_SCORES = [0.38992776142838176, 0.13884787273293037, 0.6286192893855979, 0.8673874380326858]  # predict_proba then


def test_a_pipeline_pickled_before_the_engine_package_still_loads() -> None:
    import pickle
    import re
    import sys
    import zlib

    from sentikit.model import LEGACY_MODULES

    raw = zlib.decompressobj().decompress((OLD_MODEL / PIPELINE_FILE).read_bytes())
    assert {b"sentikit.text", b"sentikit.features"} <= set(re.findall(rb"sentikit\.[a-z_]+", raw))
    model = load_model(OLD_MODEL, need=(PIPELINE_FILE,))  # the digest and the checksums still hold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnVersionWarning)  # CI may install another scikit-learn
        pipeline = model.pipeline
    assert list(pipeline.predict_proba(OLD_TEXTS)[:, 1]) == pytest.approx(OLD_SCORES, abs=1e-9)
    assert type(pipeline.named_steps["nb"]).__module__ == "sentikit.engine.features"
    assert not LEGACY_MODULES.keys() & sys.modules.keys()  # the old names lived only while unpickling
    assert b"sentikit.text" not in pickle.dumps(pipeline) and b"sentikit.engine.text" in pickle.dumps(pipeline)
    with pytest.raises(ModuleNotFoundError):
        __import__("sentikit.text")
