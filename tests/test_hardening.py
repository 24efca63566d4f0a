"""Issue 18, model side and bad settings: nothing unpickled to score or serve, tampering evident,
thresholds and gates checked wherever they come from, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from sentikit.config import MODEL_KEY_ENV_VAR, THRESHOLD_ENV_VAR, load_settings
from sentikit.errors import ConfigError, InvalidInputError, ModelIntegrityError
from sentikit.model import (
    DIGEST_FIELD,
    MANIFEST_FILE,
    PIPELINE_FILE,
    SCORER_FILE,
    SIGNATURE_FIELD,
    UnsealedModelWarning,
    load_model,
    manifest_digest,
    seal_manifest,
    sha256_file,
    verify_model_dir,
)
from sentikit.score import check_threshold


class PlantsMarker:
    """Unpickling this creates (opens for writing) the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def model_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(trained_model_dir, target)
    return target


def read_manifest(model_dir: Path) -> dict[str, Any]:
    return dict(json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8")))


def write_manifest(model_dir: Path, manifest: dict[str, Any]) -> None:
    (model_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def one_line_error(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return str(lines[0])


def run_sentikit(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``python -m sentikit ARGS`` as a user runs it; a command that keeps running (a server that started
    although it should have refused) fails the test instead of hanging it."""
    environ = {**os.environ, "NO_COLOR": "1", **(env or {})}
    try:
        return subprocess.run([sys.executable, "-m", "sentikit", *args], cwd=cwd, env=environ,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`sentikit {' '.join(args)}` was still running after {timeout} s: it accepted what it should refuse")


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, contains: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and contains in lines[0], done.stderr


# --- 1. scoring and serving never unpickle ------------------------------------------------------


def plant_malicious_pipeline(model_dir: Path, marker: Path) -> None:
    """What an attacker with write access does: drop scorer.json, replace the pipeline with a pickle that
    runs code, and update the manifest to match (checksum and digest; without the team's key)."""
    (model_dir / SCORER_FILE).unlink()
    (model_dir / PIPELINE_FILE).write_bytes(pickle.dumps(PlantsMarker(marker)))
    manifest = read_manifest(model_dir)
    manifest["files"][PIPELINE_FILE] = sha256_file(model_dir / PIPELINE_FILE)
    write_manifest(model_dir, seal_manifest(manifest))


def test_the_malicious_pickle_is_live(tmp_path: Path) -> None:
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(PlantsMarker(marker)))  # the payload the tests below must never run
    assert marker.exists()


def test_score_evaluate_explain_and_build_never_unpickle(cli, model_copy: Path, small_training_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker" / "pwned"
    marker.parent.mkdir()
    plant_malicious_pipeline(model_copy, marker)
    for args in (
        ["score", "what a lovely day", "-m", str(model_copy)],
        ["evaluate", str(small_training_file), "-m", str(model_copy)],
        ["explain", "what a lovely day", "-m", str(model_copy)],
        ["build", "--render-only", str(tmp_path / "ctx"), "-m", str(model_copy)],
    ):
        line = one_line_error(cli(*args))
        assert f"{SCORER_FILE} is missing" in line, args
    assert not marker.exists()
    assert not (tmp_path / "ctx").exists()


def test_a_scorer_the_manifest_does_not_list_is_not_replaced_by_the_pipeline(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant_malicious_pipeline(model_copy, marker)
    manifest = read_manifest(model_copy)
    del manifest["files"][SCORER_FILE]
    write_manifest(model_copy, seal_manifest(manifest))
    with pytest.raises(ModelIntegrityError, match=f"does not list {SCORER_FILE}"):
        load_model(model_copy)
    assert not marker.exists()


@pytest.mark.slow
def test_serve_never_unpickles(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant_malicious_pipeline(model_copy, marker)
    done = run_sentikit("serve", str(model_copy), "--port", str(free_port()), cwd=tmp_path)
    assert_one_line(done, 2, f"{SCORER_FILE} is missing")
    env = {"SENTIKIT_MODEL_PATH": str(model_copy), "SENTIKIT_SERVER_PORT": str(free_port())}
    module = subprocess.run([sys.executable, "-m", "sentikit.server"], cwd=tmp_path, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=90)
    assert_one_line(module, 2, f"{SCORER_FILE} is missing")
    assert not marker.exists()


def test_retraining_paths_verify_the_pipeline_before_unpickling(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (model_copy / PIPELINE_FILE).write_bytes(pickle.dumps(PlantsMarker(marker)))  # checksum not updated
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(model_copy, need=(PIPELINE_FILE,)).pipeline
    assert not marker.exists()


# --- 2. the manifest is tamper-evident -----------------------------------------------------------


def test_registration_records_a_digest_over_the_manifest_and_files(trained_model_dir: Path) -> None:
    manifest = read_manifest(trained_model_dir)
    assert manifest[DIGEST_FIELD] == manifest_digest(manifest)
    assert manifest[DIGEST_FIELD].startswith("sha256:") and SIGNATURE_FIELD not in manifest
    assert set(manifest["files"]) == {PIPELINE_FILE, SCORER_FILE}


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["metrics"].update(accuracy=0.999),
        lambda m: m.update(version=99),
        lambda m: m["files"].update({PIPELINE_FILE: "0" * 64}),
        lambda m: m["params"].update(C=100.0),
    ],
    ids=["metrics", "version", "pipeline-checksum", "params"],
)
def test_an_edited_manifest_is_refused(cli, model_copy: Path, edit: Any) -> None:
    manifest = read_manifest(model_copy)
    edit(manifest)
    write_manifest(model_copy, manifest)
    line = one_line_error(cli("score", "what a lovely day", "-m", str(model_copy)))
    assert "does not match its digest" in line


def test_a_changed_file_is_refused_at_load(cli, model_copy: Path) -> None:
    with open(model_copy / SCORER_FILE, "ab") as handle:
        handle.write(b" ")
    line = one_line_error(cli("score", "what a lovely day", "-m", str(model_copy)))
    assert "checksum mismatch" in line and SCORER_FILE in line


def test_signed_models_with_the_team_key(cli, small_training_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_KEY_ENV_VAR, "team-secret-1")
    assert cli("train", str(small_training_file), "--workspace", str(tmp_path / "ws")).exit_code == 0
    signed = tmp_path / "ws" / "sentiment" / "1"
    manifest = read_manifest(signed)
    assert manifest[SIGNATURE_FIELD].startswith("hmac-sha256:")
    assert "team-secret-1" not in (signed / MANIFEST_FILE).read_text()
    assert cli("score", "what a lovely day", "-m", str(signed)).exit_code == 0

    # An attacker without the key can edit and re-digest the manifest, but not re-sign it.
    forged = tmp_path / "forged"
    shutil.copytree(signed, forged)
    manifest["metrics"]["accuracy"] = 0.999
    write_manifest(forged, seal_manifest(manifest))  # digest recomputed, signature dropped
    assert "not signed" in one_line_error(cli("score", "x", "-m", str(forged)))
    write_manifest(forged, {**seal_manifest(manifest), SIGNATURE_FIELD: read_manifest(signed)[SIGNATURE_FIELD]})
    assert "signature does not match" in one_line_error(cli("score", "x", "-m", str(forged)))

    monkeypatch.setenv(MODEL_KEY_ENV_VAR, "another-key")
    assert "signature does not match" in one_line_error(cli("score", "x", "-m", str(signed)))
    monkeypatch.delenv(MODEL_KEY_ENV_VAR)
    assert cli("score", "x", "-m", str(signed)).exit_code == 0  # no key here: the digest is still checked


def test_an_unsigned_model_is_refused_when_a_key_is_set(cli, model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_KEY_ENV_VAR, "team-secret-1")
    assert "not signed" in one_line_error(cli("score", "x", "-m", str(model_copy)))


def test_a_model_from_before_digests_loads_with_a_warning(model_copy: Path) -> None:
    manifest = read_manifest(model_copy)
    del manifest[DIGEST_FIELD]
    write_manifest(model_copy, manifest)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(model_copy)
    assert model.score(["what a lovely day"])[0] > 0.5
    assert [w.category for w in caught] == [UnsealedModelWarning]


def test_a_copy_without_the_pipeline_serves_but_files_are_never_swapped(model_copy: Path) -> None:
    (model_copy / PIPELINE_FILE).unlink()  # the image carries manifest and scorer only
    assert verify_model_dir(model_copy, need=(SCORER_FILE,))["name"] == "sentiment"
    with pytest.raises(ModelIntegrityError, match=f"{PIPELINE_FILE} is missing"):
        verify_model_dir(model_copy, need=(PIPELINE_FILE,))


def test_a_manifest_cannot_point_outside_the_model_directory(model_copy: Path) -> None:
    manifest = read_manifest(model_copy)
    manifest["files"]["../../etc/passwd"] = "0" * 64
    write_manifest(model_copy, seal_manifest(manifest))
    with pytest.raises(ModelIntegrityError, match="invalid file name"):
        load_model(model_copy)


# --- 3. build verifies before packaging ------------------------------------------------------------


def test_build_refuses_a_tampered_scorer(cli, model_copy: Path, tmp_path: Path) -> None:
    with open(model_copy / SCORER_FILE, "ab") as handle:
        handle.write(b"tampered")
    context = tmp_path / "ctx"
    line = one_line_error(cli("build", "--render-only", str(context), "-m", str(model_copy)))
    assert "checksum mismatch" in line
    assert not context.exists()


def test_verify_model_dir_is_what_build_calls(model_copy: Path) -> None:
    with open(model_copy / SCORER_FILE, "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        verify_model_dir(model_copy, need=(SCORER_FILE,))


# --- 5. thresholds are checked in every setting source ----------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "2", "-0.1"])
def test_threshold_from_a_flag_the_environment_or_the_file(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--threshold must be"):
        load_settings({"threshold": value}, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=f"{THRESHOLD_ENV_VAR}: threshold must be"):
        load_settings(environ={THRESHOLD_ENV_VAR: value}, cwd=tmp_path)
    (tmp_path / "sentikit.toml").write_text(f"threshold = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sentikit.toml: threshold must be"):
        load_settings(environ={}, cwd=tmp_path)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1.5, -0.5, "0.5", True, None])
def test_the_library_threshold_check(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="threshold must be between 0 and 1"):
        check_threshold(value)


def test_threshold_nan_in_every_command(cli, trained_model_dir: Path, small_training_file: Path) -> None:
    model = str(trained_model_dir)
    for args in (
        ["score", "x", "-m", model, "--threshold", "nan"],
        ["evaluate", str(small_training_file), "-m", model, "--threshold", "nan"],
        ["monitor", model, "--input", str(small_training_file), "--window", "5", "--alert-below", "0.3", "--threshold", "nan"],
        ["monitor", model, "--input", str(small_training_file), "--window", "5", "--alert-below", "nan"],
    ):
        assert "nan" in one_line_error(cli(*args)), args


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--threshold", "nan"], ["--threshold", "2"], ["--port", "70000"]])
def test_serve_refuses_bad_settings_in_one_line(trained_model_dir: Path, tmp_path: Path, args: list[str]) -> None:
    extra = [] if "--port" in args else ["--port", str(free_port())]
    done = run_sentikit("serve", str(trained_model_dir), *args, *extra, cwd=tmp_path)
    assert_one_line(done, 2, f"{args[0]} must be between")


@pytest.mark.slow
def test_the_container_entry_point_refuses_a_bad_threshold(trained_model_dir: Path, tmp_path: Path) -> None:
    env = {"SENTIKIT_MODEL_PATH": str(trained_model_dir), THRESHOLD_ENV_VAR: "nan", "SENTIKIT_SERVER_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "sentikit.server"], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=90)
    assert_one_line(done, 2, f"{THRESHOLD_ENV_VAR}: threshold must be")


# --- 6. one line, the right exit code ---------------------------------------------------------------


@pytest.mark.slow
def test_serve_a_tampered_model_is_one_line(model_copy: Path, tmp_path: Path) -> None:
    with open(model_copy / SCORER_FILE, "ab") as handle:
        handle.write(b"tampered")
    done = run_sentikit("serve", str(model_copy), "--port", str(free_port()), cwd=tmp_path)
    assert_one_line(done, 2, "checksum mismatch")


def test_unwritable_outputs_are_one_line(cli, trained_model_dir: Path, small_training_file: Path, tmp_path: Path) -> None:
    model = str(trained_model_dir)
    assert "/proc/x.csv" in one_line_error(cli("score", "--input", str(small_training_file), "-o", "/proc/x.csv", "-m", model))
    folder = tmp_path / "existing"
    folder.mkdir()
    assert "a directory" in one_line_error(cli("score", "--input", str(small_training_file), "-o", str(folder), "-m", model))
    assert "/proc/x.json" in one_line_error(cli("openapi", "--output", "/proc/x.json"))
    assert list(folder.iterdir()) == []


# --- 7. a gate with an invalid bound is a usage error -------------------------------------------------


@pytest.mark.parametrize(("flag", "value"), [("--min-accuracy", "nan"), ("--min-auc", "nan"), ("--min-accuracy", "inf"),
                                             ("--min-accuracy", "85"), ("--min-auc", "-1")])
def test_invalid_gates_are_usage_errors(cli, trained_model_dir: Path, small_training_file: Path, flag: str, value: str) -> None:
    line = one_line_error(cli("evaluate", str(small_training_file), "-m", str(trained_model_dir), flag, value))
    assert line == f"error: {flag} must be between 0 and 1, got {float(value)!r}"


def test_a_file_error_the_library_did_not_translate_is_still_one_line(cli, small_training_file: Path) -> None:
    line = one_line_error(cli("train", str(small_training_file), "--workspace", "/proc/sentikit-workspace"))
    assert line == "error: /proc/sentikit-workspace: No such file or directory"


def test_models_lists_a_tampered_model_and_says_it_would_be_refused(cli, trained_model_dir: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    for version in (1, 2):
        shutil.copytree(trained_model_dir, workspace / "sentiment" / str(version))
        manifest = read_manifest(workspace / "sentiment" / str(version))
        write_manifest(workspace / "sentiment" / str(version), seal_manifest({**manifest, "version": version}))
    forged = workspace / "sentiment" / "2"
    manifest = read_manifest(forged)
    manifest["metrics"]["accuracy"] = 0.999
    write_manifest(forged, manifest)
    result = cli("models", "--workspace", str(workspace))
    assert result.exit_code == 0
    assert "sentiment:1" in result.stdout and "sentiment:2" in result.stdout
    warnings_shown = result.stderr.strip().splitlines()
    assert len(warnings_shown) == 1
    assert warnings_shown[0].startswith("warning: sentiment:2 would be refused: ") and "does not match its digest" in warnings_shown[0]
