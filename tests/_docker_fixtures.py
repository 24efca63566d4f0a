"""Session fixtures for tests that need the real Docker engine, shared by tests/docker and tests/azure.

Registered once from tests/conftest.py (``pytest_plugins = ["_docker_fixtures"]``).

* ``docker_client``: a ``docker.DockerClient`` that answered ``ping``.
* ``base_image``: the name of the (stand-in) base image, present in the engine.
* ``registry``: a real ``docker-registry`` (distribution 2.8) with htpasswd basic auth on
  ``127.0.0.1:<free port>``; a :class:`LocalRegistry` with ``host``, ``url``, ``username``, ``password``.
* ``tiny_image``: a one-layer image on the base image (builds in about a second), for push tests.
* ``app_image``: sentikit's real image built once per session from ``trained_model_dir``.

When the engine or the base image is missing these skip, except under ``CI=true``, where they
fail: CI must exercise the real engine (``bash scripts/setup-test-env.sh`` prepares it).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import free_port as free_port
from conftest import wait_ready

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BASE_IMAGE = os.environ.get("SENTIKIT_TEST_BASE_IMAGE", "python:3.11-slim")
SETUP_HINT = "run `sudo bash scripts/setup-test-env.sh` to install and start it"
# Every image and container the tests create carries this label, so teardown finds them all.
TEST_LABEL = "io.sentikit.test"
RUN_ID = uuid.uuid4().hex[:8]


def unavailable(reason: str) -> None:
    """Skip (fail under CI=true) because the Docker test environment is incomplete."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: Docker tests must run)", pytrace=False)
    pytest.skip(reason)


# The shared helpers, importable from here as before.
wait_http = wait_ready


@dataclass(frozen=True)
class LocalRegistry:
    """A running local registry: push to ``f"{host}/repo:tag"`` with ``username``/``password``."""

    host: str  # "127.0.0.1:PORT", the registry part of an image reference
    url: str  # "http://127.0.0.1:PORT"
    username: str
    password: str

    def __repr__(self) -> str:  # never show the password in test output
        return f"LocalRegistry(host={self.host!r}, username={self.username!r})"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A Docker SDK client connected to a live engine."""
    try:
        import docker
    except ImportError:
        unavailable("the docker Python package is not installed")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # docker.errors.DockerException, requests errors, socket errors
        unavailable(f"no Docker engine reachable ({exc.__class__.__name__}): {SETUP_HINT}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """The base image the images are built from, known to be present (never pulled)."""
    import docker

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"base image {BASE_IMAGE} is not in the engine: {SETUP_HINT}")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A real registry with bcrypt htpasswd auth on a free loopback port, stopped after the session."""
    binary, htpasswd = shutil.which("docker-registry"), shutil.which("htpasswd")
    if not binary or not htpasswd:
        unavailable(f"docker-registry and htpasswd (apache2-utils) are needed: {SETUP_HINT}")
    directory = tmp_path_factory.mktemp("registry")
    username, password = "ci", secrets.token_urlsafe(16)
    entry = subprocess.run([htpasswd, "-Bbn", username, password], check=True, capture_output=True, text=True)
    (directory / "htpasswd").write_text(entry.stdout.strip() + "\n", encoding="utf-8")
    port = free_port()
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {directory / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, secret: {secrets.token_hex(16)}}}\n"
        f"auth: {{htpasswd: {{realm: ci, path: {directory / 'htpasswd'}}}}}\n",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{port}"
    with serve_registry(binary, directory, config, f"{url}/v2/"):
        yield LocalRegistry(host=f"127.0.0.1:{port}", url=url, username=username, password=password)


@contextlib.contextmanager
def serve_registry(binary: str, directory: Path, config: Path, probe: str, ssl_context: Any = None) -> Iterator[None]:
    """Run ``docker-registry serve config`` until the block ends; ready once ``probe`` asks for credentials."""
    log = open(directory / "registry.log", "wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(probe, timeout=1, context=ssl_context)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {(directory / 'registry.log').read_text()}")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def tiny_image(docker_client: Any, base_image: str) -> Iterator[str]:
    """A small labelled image (base + one file) under a unique tag; removed after the session."""
    tag = f"sentikit-test-tiny:{RUN_ID}"
    dockerfile = f"FROM {base_image}\nLABEL {TEST_LABEL}={RUN_ID}\nCOPY hello.txt /hello.txt\n".encode()
    build_from_files(docker_client, tag, {"Dockerfile": dockerfile, "hello.txt": f"hello {RUN_ID}\n".encode()})
    yield tag
    _remove_image(docker_client, tag)


@pytest.fixture(scope="session")
def app_image(docker_client: Any, base_image: str, trained_model_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """sentikit's image for ``trained_model_dir``, built once per session (a ``BuiltImage``).

    The wheelhouse is cached in ~/.cache/sentikit/wheelhouse, so only the first session on a
    machine pays for it. Teardown removes the tag and prunes the dangling ``deps`` stages.
    """
    from sentikit.image import build_image, prepare_context
    from sentikit.model import load_model

    context = prepare_context(load_model(trained_model_dir), tmp_path_factory.mktemp("image-context"),
                              base_image=base_image, extra_labels={TEST_LABEL: RUN_ID})
    image = build_image(context, tag=f"sentikit-test-app:{RUN_ID}")
    yield image
    _remove_image(docker_client, image.tag)
    prune_deps_stages(docker_client)


def build_from_files(client: Any, tag: str, files: dict[str, bytes]) -> None:
    """Build a small test image from in-memory files (Dockerfile included); stream errors raise."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    for chunk in client.api.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, decode=True):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])


def prune_deps_stages(client: Any) -> None:
    """Remove the dangling ``deps`` stage images the classic builder leaves behind."""
    client.images.prune(filters={"dangling": True, "label": "sentikit.stage=deps"})


def _remove_image(client: Any, tag: str) -> None:
    import docker

    try:
        client.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass
