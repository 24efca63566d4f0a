"""``sentikit build --postgres``: the image a PostgreSQL-backed desk needs (psycopg 3 in it, and the label that
``deploy --store-url`` checks), built once for the module through the CLI on the real engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from sentikit.deploy.desk import POSTGRES_LABEL

from conftest import run_cli
from _docker_fixtures import RUN_ID, TEST_LABEL, _remove_image, prune_deps_stages

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def postgres_image(docker_client: Any, base_image: str, trained_model_dir: Path) -> Iterator[dict[str, Any]]:
    """``sentikit build MODEL --postgres --json`` (its JSON), removed after the module."""
    tag = f"sentikit-test-pg:{RUN_ID}"
    result = run_cli("build", str(trained_model_dir), "--tag", tag, "--base-image", base_image, "--postgres", "--json")
    assert result.exit_code == 0, result.stderr
    yield result.json
    _remove_image(docker_client, tag)
    prune_deps_stages(docker_client)


def test_the_image_imports_psycopg_as_its_non_root_user(postgres_image: dict[str, Any], docker_client: Any) -> None:
    probe = "import os, json, psycopg; print(json.dumps({'uid': os.getuid(), 'libpq': psycopg.pq.version()}))"
    out = docker_client.containers.run(postgres_image["tag"], entrypoint=["python", "-c", probe], remove=True,
                                       labels={TEST_LABEL: RUN_ID})
    facts = json.loads(out)
    assert facts["uid"] == 10001
    assert facts["libpq"] >= 100000  # libpq 10 or later, from psycopg-binary


def test_the_image_is_labelled_and_the_json_says_so(postgres_image: dict[str, Any], docker_client: Any) -> None:
    assert postgres_image["postgres"] is True
    assert postgres_image["labels"][POSTGRES_LABEL] == "true"
    assert docker_client.images.get(postgres_image["tag"]).labels[POSTGRES_LABEL] == "true"


def test_the_default_image_has_neither_psycopg_nor_the_label(app_image: Any, docker_client: Any) -> None:
    assert POSTGRES_LABEL not in app_image.labels and app_image.postgres is False
    out = docker_client.containers.run(app_image.tag, entrypoint=["python", "-c",
                                       "import importlib.util as u; print(bool(u.find_spec('psycopg')))"],
                                       remove=True, labels={TEST_LABEL: RUN_ID})
    assert out.strip() == b"False"
