"""sentikit on a real MLflow tracking server: runs, the registry, models:/ and runs:/ references,
the python_function model, and the faults a user meets (one line each, the usual exit codes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import CliResult, free_port, run_cli, wait_ready

pytestmark = pytest.mark.slow
TEXTS = ["what a lovely day", "the food was cold and the waiter rude", "not bad at all"]


@pytest.fixture(scope="module")
def trained(mlflow_server: Any, small_training_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`sentikit train --mlflow URL` once: the local model, and what the train command printed."""
    workspace = tmp_path_factory.mktemp("trained") / "models"
    result = run_cli("train", str(small_training_file), "-w", str(workspace), "--seed", "7",
                     "--mlflow", mlflow_server.url, "--json")
    assert result.exit_code == 0, result.stderr
    return {"result": result.json, "stderr": result.stderr, "model_dir": Path(result.json["path"]), "workspace": workspace}


def client(server: Any) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def one_line_error(result: CliResult, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_train_logs_a_run_with_params_metrics_tags_and_registers_version_1(trained: dict[str, Any], mlflow_server: Any,
                                                                          small_training_file: Path) -> None:
    from sentikit import __version__
    from sentikit.model import verify_model_dir
    from sentikit.train import DEFAULT_PARAMS

    logged = trained["result"]["mlflow"]
    assert logged["model_uri"] == "models:/sentiment/1" and logged["model_version"] == 1
    assert "registered models:/sentiment/1" in trained["stderr"]
    run = client(mlflow_server).get_run(logged["run_id"])
    assert run.info.status == "FINISHED"
    assert set(DEFAULT_PARAMS) | {"seed", "validation_fraction"} <= set(run.data.params)
    assert run.data.params["seed"] == "7" and run.data.params["C"] == "10.0"
    manifest = json.loads((trained["model_dir"] / "manifest.json").read_text())
    assert run.data.metrics["accuracy"] == pytest.approx(manifest["metrics"]["accuracy"], abs=1e-12)
    assert run.data.metrics["confusion.tp"] == manifest["metrics"]["confusion"]["tp"]
    tags = run.data.tags
    assert tags["sentikit.version"] == __version__ and tags["sentikit.model"] == "sentiment:1"
    assert tags["sentikit.data.0.sha256"] == manifest["data"]["files"][0]["sha256"]
    assert tags["sentikit.data.0.rows"] == "600"
    assert tags["sentikit.digest"] == manifest["digest"]
    version = client(mlflow_server).get_model_version("sentiment", "1")
    assert version.run_id == logged["run_id"]
    assert version.tags["sentikit.version"] == __version__ and version.tags["sentikit.digest"] == manifest["digest"]
    # each side finds the other: the sidecar beside the (still verifying) sealed manifest
    assert json.loads((trained["model_dir"] / "mlflow.json").read_text())["run_id"] == logged["run_id"]
    verify_model_dir(trained["model_dir"], need=("scorer.json", "pipeline.joblib"))


def test_the_logged_model_is_an_mlflow_model_with_a_signature(trained: dict[str, Any], mlflow_server: Any, tmp_path: Path) -> None:
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/sentiment/1", dst_path=str(tmp_path),
                                                     tracking_uri=mlflow_server.url))
    mlmodel = (local / "MLmodel").read_text()
    assert "loader_module: sentikit.tracking.pyfunc" in mlmodel and "data: data/sentikit-model" in mlmodel
    assert '[{"type": "string", "name": "text", "required": true}]' in mlmodel
    assert '[{"type": "double", "required": true}]' in mlmodel
    requirements = (local / "requirements.txt").read_text().split()
    assert any(r.startswith("sentikit==") for r in requirements) and any(r.startswith("scikit-learn==") for r in requirements)
    assert sorted(p.name for p in (local / "data" / "sentikit-model").iterdir()) == ["manifest.json", "pipeline.joblib", "scorer.json"]


def test_pyfunc_predict_equals_sentikit_scores_on_1000_texts(trained: dict[str, Any], mlflow_server: Any) -> None:
    import mlflow
    import pandas

    from _datasets import corpus_rows
    from sentikit.model import load_model

    texts = [text for text, _ in corpus_rows("uci-yelp")[:1000]]
    assert len(texts) == 1000
    mlflow.set_tracking_uri(mlflow_server.url)
    pyfunc = mlflow.pyfunc.load_model("models:/sentiment/1")
    predicted = pyfunc.predict(pandas.DataFrame({"text": texts}))
    expected = load_model(trained["model_dir"]).score(texts)
    assert max(abs(float(a) - b) for a, b in zip(predicted, expected)) <= 1e-9
    # and `score --json` to its printed digits
    printed = run_cli("score", "-m", str(trained["model_dir"]), "--json", "--", *texts).json
    assert [row["score"] for row in printed] == [round(float(v), 6) for v in predicted]


def test_score_from_an_empty_folder_equals_the_local_model_and_is_cached(
        trained: dict[str, Any], mlflow_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    local = run_cli("score", *TEXTS, "-m", str(trained["model_dir"]), "--json")
    monkeypatch.setenv("SENTIKIT_MLFLOW_URI", mlflow_server.url)
    remote = run_cli("score", *TEXTS, "-m", "models:/sentiment/1", "--json")
    assert remote.exit_code == 0, remote.stderr
    assert remote.json == local.json
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["models"]  # the cache, no ./mlflow.db
    cached = list(Path("models/.mlflow").glob("server-*/models/sentiment/1"))
    assert len(cached) == 1 and (cached[0] / "mlflow.json").is_file()
    assert not list(cached[0].parent.glob(".incomplete-*"))
    # once cached, a version needs no server (versions never change; each load verifies the copy
    # again): the command does not even import MLflow
    assert _imports_mlflow(["score", *TEXTS, "-m", "models:/sentiment/1", "--json"]) == "False"
    shutil.rmtree(Path("models/.mlflow"))
    monkeypatch.delenv("SENTIKIT_MLFLOW_URI")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)  # MLflow's own variable works too
    assert run_cli("score", *TEXTS, "-m", "models:/sentiment/1", "--json").json == local.json


def _imports_mlflow(args: list[str]) -> str:
    """Run the CLI in a fresh interpreter; whether ``mlflow`` got imported."""
    code = ("import sys\nfrom sentikit.cli import main\ncode = main(sys.argv[1:])\n"
            "print('mlflow' in sys.modules, file=sys.stderr)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_without_mlflow_nothing_imports_it(trained: dict[str, Any], small_training_file: Path) -> None:
    assert _imports_mlflow(["score", "fine", "-m", str(trained["model_dir"])]) == "False"
    assert _imports_mlflow(["train", str(small_training_file), "--param", "char_ngrams=null", "-w", "ws"]) == "False"


def test_alias_and_runs_references(trained: dict[str, Any], mlflow_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client(mlflow_server).set_registered_model_alias("sentiment", "champion", "1")
    local = run_cli("score", *TEXTS, "-m", str(trained["model_dir"]), "--json").json
    monkeypatch.setenv("SENTIKIT_MLFLOW_URI", mlflow_server.url)
    assert run_cli("score", *TEXTS, "-m", "models:/sentiment@champion", "--json").json == local
    run_id = trained["result"]["mlflow"]["run_id"]
    explained = run_cli("explain", TEXTS[0], "-m", f"runs:/{run_id}/model", "--json")
    assert explained.exit_code == 0, explained.stderr
    assert explained.json == run_cli("explain", TEXTS[0], "-m", str(trained["model_dir"]), "--json").json
    listing = run_cli("models", "--mlflow", mlflow_server.url, "--json")
    assert listing.exit_code == 0, listing.stderr
    first = next(r for r in listing.json if r["model_uri"] == "models:/sentiment/1")
    assert first["aliases"] == ["champion"] and first["run_id"] == run_id
    assert first["metrics"]["accuracy"] == pytest.approx(trained["result"]["metrics"]["accuracy"])
    table = run_cli("models", "--mlflow", mlflow_server.url)
    assert "models:/sentiment/1" in table.stdout and "@champion" in table.stdout


def test_build_render_only_from_the_registry(trained: dict[str, Any], mlflow_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIKIT_MLFLOW_URI", mlflow_server.url)
    result = run_cli("build", "--render-only", "ctx", "-m", "models:/sentiment/1", "--json")
    assert result.exit_code == 0, result.stderr
    assert Path("ctx/Dockerfile").is_file()
    copied = json.loads(Path("ctx/model/manifest.json").read_text())
    assert copied["digest"] == json.loads((trained["model_dir"] / "manifest.json").read_text())["digest"]
    assert not Path("ctx/model/mlflow.json").exists() and not Path("ctx/model/pipeline.joblib").exists()


def _artifact_dir(server: Any, name: str, version: str) -> Path:
    """Where the server stores a version's sentikit model (``--artifacts-destination``)."""
    uri = client(server).get_model_version_download_uri(name, version)
    assert uri.startswith("mlflow-artifacts:/")
    return server.artifacts / uri.removeprefix("mlflow-artifacts:/") / "data" / "sentikit-model"


def test_an_artifact_edited_or_missing_in_the_store_is_refused(mlflow_server: Any, small_training_file: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    made = run_cli("train", str(small_training_file), "--name", "tampered", "--param", "char_ngrams=null",
                   "--mlflow", mlflow_server.url, "-w", "local")
    assert made.exit_code == 0, made.stderr
    stored = _artifact_dir(mlflow_server, "tampered", "1")
    monkeypatch.setenv("SENTIKIT_MLFLOW_URI", mlflow_server.url)
    scorer = stored / "scorer.json"
    original = scorer.read_bytes()
    scorer.write_bytes(original + b" ")
    line = one_line_error(run_cli("score", "fine", "-m", "models:/tampered/1"), 2)
    assert "models:/tampered/1: refused" in line and "scorer.json: checksum mismatch" in line
    scorer.write_bytes(original)
    (stored / "pipeline.joblib").rename(stored.parent / "pipeline.joblib.away")  # a partial copy
    line = one_line_error(run_cli("score", "fine", "-m", "models:/tampered/1"), 2)
    assert "pipeline.joblib is missing" in line
    assert not list(Path("models/.mlflow").glob("server-*/models/tampered/1"))  # nothing cached
    assert not list(Path("models/.mlflow").glob("server-*/models/tampered/.incomplete-*"))  # nothing left over
    (stored.parent / "pipeline.joblib.away").rename(stored / "pipeline.joblib")
    assert run_cli("score", "fine", "-m", "models:/tampered/1").exit_code == 0


def test_faults_are_one_line_with_the_usual_exit_codes(trained: dict[str, Any], mlflow_server: Any,
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sentikit.errors import ExitCode

    line = one_line_error(run_cli("score", "x", "-m", "models:/sentiment/1"), ExitCode.USAGE)
    assert "no tracking server is set" in line
    monkeypatch.setenv("SENTIKIT_MLFLOW_URI", mlflow_server.url)
    assert "has no version 99 (versions: 1" in one_line_error(run_cli("score", "x", "-m", "models:/sentiment/99"), ExitCode.USAGE)
    assert "no registered model 'nope'" in one_line_error(run_cli("score", "x", "-m", "models:/nope/1"), ExitCode.USAGE)
    assert "has no alias @gone" in one_line_error(run_cli("score", "x", "-m", "models:/sentiment@gone"), ExitCode.USAGE)
    assert "the version must be a number" in one_line_error(run_cli("score", "x", "-m", "models:/sentiment/v1"), ExitCode.USAGE)
    assert "no run 0123456789abcdef" in one_line_error(
        run_cli("score", "x", "-m", "runs:/0123456789abcdef0123456789abcdef/model"), ExitCode.USAGE)
    # a run without a sentikit model
    mlflow_client = client(mlflow_server)
    other = mlflow_client.create_run(mlflow_client.get_experiment_by_name("sentikit").experiment_id)
    mlflow_client.log_text(other.info.run_id, "not a model", "notes/readme.txt")
    assert "is not a sentikit model" in one_line_error(run_cli("score", "x", "-m", f"runs:/{other.info.run_id}/notes"), ExitCode.USAGE)
    assert "no sentikit model there" in one_line_error(run_cli("score", "x", "-m", f"runs:/{other.info.run_id}/model"), ExitCode.USAGE)
    # an unreachable server: a remote error, in seconds, before any training
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    line = one_line_error(run_cli("train", "--mlflow", dead, "-w", "ws"), ExitCode.REMOTE)
    assert f"cannot reach MLflow at {dead}" in line and time.monotonic() - started < 30
    assert not Path("ws").exists()
    monkeypatch.setenv("SENTIKIT_MLFLOW_URI", dead)
    assert "cannot reach MLflow" in one_line_error(run_cli("score", "x", "-m", "models:/sentiment/2"), ExitCode.REMOTE)


def test_a_failed_upload_leaves_no_registered_version(mlflow_server: Any, small_training_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("artifacts cannot go under a file")
    mlflow_client = client(mlflow_server)
    mlflow_client.create_experiment("broken-store", artifact_location=(blocker / "artifacts").as_uri())
    result = run_cli("train", str(small_training_file), "--name", "never", "--param", "char_ngrams=null",
                     "--mlflow", mlflow_server.url, "--experiment", "broken-store", "-w", "ws")
    line = one_line_error(result, 4)
    assert f"MLflow at {mlflow_server.url}" in line
    assert mlflow_client.search_model_versions("name='never'") == []
    runs = mlflow_client.search_runs([mlflow_client.get_experiment_by_name("broken-store").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_evaluate_logs_metrics_per_file_and_the_report(trained: dict[str, Any], mlflow_server: Any, small_training_file: Path) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures"
    result = run_cli("evaluate", str(small_training_file), str(fixtures / "reviews.csv"), "-m", "models:/sentiment/1",
                     "--mlflow", mlflow_server.url, "--report", "report", "--json")
    assert result.exit_code == 0, result.stderr
    run_id = result.stderr.split("MLflow run ")[1].split()[0]
    assert result.stderr.strip().endswith("evaluated models:/sentiment/1")
    run = client(mlflow_server).get_run(run_id)
    files = {f["path"]: f["metrics"] for f in result.json["files"]}
    assert run.data.metrics["small.tsv.accuracy"] == pytest.approx(files[str(small_training_file)]["accuracy"])
    assert run.data.metrics["reviews.csv.accuracy"] == pytest.approx(files[str(fixtures / "reviews.csv")]["accuracy"])
    assert run.data.metrics["accuracy"] == pytest.approx(result.json["metrics"]["accuracy"])
    assert run.data.tags["sentikit.evaluated.model_uri"] == "models:/sentiment/1"
    assert run.data.tags["sentikit.evaluated.run_id"] == trained["result"]["mlflow"]["run_id"]
    artifacts = {a.path for a in client(mlflow_server).list_artifacts(run_id, "report")}
    assert "report/index.html" in artifacts and any(p.endswith(".png") for p in artifacts)


def test_adapt_logs_its_base_and_the_base_run(trained: dict[str, Any], mlflow_server: Any, small_training_file: Path) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures"
    result = run_cli("adapt", str(fixtures / "reviews.csv"), "--base", "models:/sentiment/1", "--corpus", str(small_training_file),
                     "--name", "adapted", "--force", "-w", "ws", "--mlflow", mlflow_server.url)
    assert result.exit_code == 0, result.stderr
    version = client(mlflow_server).get_model_version("adapted", "1")
    tags = client(mlflow_server).get_run(version.run_id).data.tags
    assert tags["sentikit.kind"] == "adapt"
    assert tags["sentikit.base.run_id"] == trained["result"]["mlflow"]["run_id"]
    assert tags["sentikit.base.model_uri"] == "models:/sentiment/1"


def test_credentials_of_the_basic_auth_app(mlflow_auth_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentikit.errors import ExitCode

    url = mlflow_auth_server.url
    line = one_line_error(run_cli("models", "--mlflow", url), ExitCode.ENVIRONMENT)
    assert line == (f"error: MLflow at {url} refused the credentials (HTTP 401): set MLFLOW_TRACKING_USERNAME and "
                    "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN")
    username, password = mlflow_auth_server.credentials
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password + "-wrong")
    result = run_cli("models", "--mlflow", url)
    assert "refused the credentials" in one_line_error(result, ExitCode.ENVIRONMENT) and password not in result.stderr
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    listed = run_cli("models", "--mlflow", url, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert listed.json == []


def test_mlflow_models_serve_answers_sentikit_scores(trained: dict[str, Any], mlflow_server: Any, tmp_path: Path) -> None:
    from sentikit.model import load_model

    port = free_port()
    # MLflow starts `uvicorn` by name: this interpreter's scripts come first on PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.url,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/sentiment/1", "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_ready(f"http://127.0.0.1:{port}/ping", timeout=180, process=process)
            except AssertionError:
                raise AssertionError((tmp_path / "serve.log").read_text(errors="replace")[-3000:]) from None
            body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                predictions = json.loads(response.read())["predictions"]
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    expected = load_model(trained["model_dir"]).score(TEXTS)
    assert max(abs(float(p) - e) for p, e in zip(predictions, expected)) <= 1e-9 and len(predictions) == len(TEXTS)


def test_serve_a_registered_version(trained: dict[str, Any], mlflow_server: Any, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SENTIKIT_MLFLOW_URI": mlflow_server.url, "SENTIKIT_WORKSPACE": str(tmp_path / "models")}
    process = subprocess.Popen([sys.executable, "-m", "sentikit", "serve", "models:/sentiment/1", "--port", str(port),
                                "--no-access-log"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=120, process=process)
        body = json.dumps({"texts": TEXTS}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/score", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            served = json.loads(response.read())
    finally:
        process.terminate()
        process.wait(timeout=30)
    from sentikit.model import load_model

    assert served["scores"] == load_model(trained["model_dir"]).score(TEXTS)
