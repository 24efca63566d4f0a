"""The image, end to end on the real Docker engine: build, run, score over HTTP, errors."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sentikit.image import BuiltImage, DockerContext, PreparedContext, build_image
from sentikit.errors import ImageBuildError

from _docker_fixtures import RUN_ID, TEST_LABEL, wait_http

pytestmark = pytest.mark.docker

TEXTS = [
    "The host was lovely and the flat spotless",
    "Never again. Dirty, loud and the staff were rude.",
    "ok",
    "Ça n'était pas terrible 😕 — mais le petit-déjeuner était excellent!",
    "NOT BAD AT ALL!!!",
    "word " * 500,
]


def _post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_container_scores_like_local_model(app_image: BuiltImage, run_container: Any, trained_model: Any,
                                           small_training_file: Path) -> None:
    texts = TEXTS + [line.split("\t")[0] for line in small_training_file.read_text().splitlines()[:60]]
    _, url = run_container(app_image.tag)
    seconds = wait_http(f"{url}/readyz")
    assert seconds < 10
    remote = _post_json(f"{url}/v1/score", {"texts": texts})["scores"]
    local = trained_model.score(texts)
    reference = trained_model.pipeline.predict_proba(texts)[:, 1]
    assert len(remote) == len(texts)
    for got, want, sk in zip(remote, local, reference):
        assert math.isclose(got, want, abs_tol=1e-9)
        assert math.isclose(got, float(sk), abs_tol=1e-9)
    # The tutorial's route: plain-text score for a percent-encoded GET.
    query = urllib.parse.quote(TEXTS[3])
    with urllib.request.urlopen(f"{url}/predict?text={query}", timeout=10) as response:
        assert math.isclose(float(response.read().decode()), local[3], abs_tol=1e-9)


def test_image_runs_as_non_root_without_cli_or_training_packages(app_image: BuiltImage, docker_client: Any) -> None:
    probe = (
        "import os, importlib.util as u, json; "
        "print(json.dumps({'uid': os.getuid(), 'present': [m for m in "
        "('sklearn', 'scipy', 'numpy', 'joblib', 'typer', 'rich', 'docker', 'azure', 'matplotlib', 'pip', "
        "'setuptools') if u.find_spec(m)], 'model': sorted(os.listdir('/app/model'))}))"
    )
    out = docker_client.containers.run(app_image.tag, entrypoint=["python", "-c", probe], remove=True,
                                       labels={TEST_LABEL: RUN_ID})
    facts = json.loads(out)
    assert facts["uid"] == 10001
    assert facts["present"] == []
    assert facts["model"] == ["manifest.json", "scorer.json"]
    config = docker_client.images.get(app_image.tag).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert config["ExposedPorts"] == {"8000/tcp": {}}
    assert config["Entrypoint"] == ["python", "-m", "sentikit.server"]


def test_image_labels(app_image: BuiltImage, trained_model: Any, base_image: str) -> None:
    labels = app_image.labels
    assert labels["io.sentikit.model.name"] == trained_model.name
    assert labels["io.sentikit.model.version"] == str(trained_model.version)
    assert labels["io.sentikit.model.checksum"] == f"sha256:{trained_model.checksum}"
    assert json.loads(labels["io.sentikit.model.metrics"]) == json.loads(json.dumps(trained_model.metrics))
    assert labels["org.opencontainers.image.title"] == "sentikit-sentiment"
    assert labels["org.opencontainers.image.version"] == str(trained_model.version)
    assert labels["org.opencontainers.image.base.name"] == base_image
    assert "sentikit.stage" not in labels  # the deps stage's label stays in the deps stage


def test_image_is_small(app_image: BuiltImage, docker_client: Any, base_image: str) -> None:
    base_size = docker_client.images.get(base_image).attrs["Size"]
    assert app_image.size - base_size < 30_000_000  # venv + model on top of the base


def test_healthcheck_becomes_healthy(app_image: BuiltImage, run_container: Any) -> None:
    container, _ = run_container(app_image.tag)
    deadline = time.monotonic() + 30  # first check runs after the 5 s interval
    status = None
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"]["Health"]["Status"]
        if status == "healthy":
            break
        time.sleep(0.5)
    assert status == "healthy"


def test_missing_base_image_is_a_clear_error(cli: Any, trained_model_dir: Path, docker_client: Any) -> None:
    result = cli("build", str(trained_model_dir), "--tag", f"sentikit-test-nobase:{RUN_ID}",
                 "--base-image", "sentikit-no-such-base:0")
    assert result.exit_code == 4
    assert "base image sentikit-no-such-base:0 is not present in the Docker engine" in result.stderr
    assert "docker pull sentikit-no-such-base:0" in result.stderr


def test_unreachable_engine_says_how_to_start_one(cli: Any, trained_model_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = cli("build", str(trained_model_dir), "--tag", "x:1")
    assert result.exit_code == 3
    assert f"cannot reach a Docker engine at unix://{tmp_path}/no-docker.sock" in result.stderr
    assert "dockerd" in result.stderr


def test_failed_step_is_named_with_its_log(tmp_path: Path, base_image: str, trained_model: Any,
                                           docker_client: Any) -> None:
    dockerfile = f"FROM {base_image}\nRUN echo preparing-things && echo broken-on-purpose >&2 && exit 3\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    prepared = PreparedContext(path=tmp_path, dockerfile=dockerfile,
                               context=DockerContext(base_image=base_image, labels={}), model=trained_model)
    with pytest.raises(ImageBuildError) as info:
        build_image(prepared, tag=f"sentikit-test-broken:{RUN_ID}", client=docker_client)
    message = str(info.value)
    assert "image build failed at step 2/2 (RUN echo preparing-things" in message
    assert "returned a non-zero code: 3" in message
    assert "preparing-things" in message.split("last log lines:")[1]
    assert "broken-on-purpose" in message
