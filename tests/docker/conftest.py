"""Fixtures for the image tests; the shared Docker fixtures come from tests/_docker_fixtures.py."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from _docker_fixtures import RUN_ID, TEST_LABEL

DEPLOYMENT_PREFIX = f"sentikit-test-{RUN_ID}"


@pytest.fixture
def run_container(docker_client: Any) -> Iterator[Callable[..., tuple[Any, str]]]:
    """Start containers (port 8000 published on a random 127.0.0.1 port); removed after the test."""
    started: list[Any] = []

    def run(image: str, **kwargs: Any) -> tuple[Any, str]:
        container = docker_client.containers.run(
            image, detach=True, ports={"8000/tcp": ("127.0.0.1", None)}, labels={TEST_LABEL: RUN_ID}, **kwargs
        )
        started.append(container)
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        return container, f"http://127.0.0.1:{port}"

    yield run
    for container in started:
        container.remove(force=True)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_containers() -> Iterator[None]:
    """Whatever a failed test left behind: containers labelled for this run or named for it."""
    yield
    try:
        import docker

        client = docker.from_env()
        for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
            container.remove(force=True)
        for container in client.containers.list(all=True, filters={"name": DEPLOYMENT_PREFIX}):
            container.remove(force=True)
    except Exception:  # no engine: nothing was started
        pass
