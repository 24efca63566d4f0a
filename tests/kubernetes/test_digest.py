"""The manifests pin the image by digest when the local engine knows one (it pushed or pulled it)."""

from __future__ import annotations

from typing import Any

import pytest

from sentikit.deploy.kubernetes import pinned_image

pytestmark = pytest.mark.docker


def test_a_pushed_tag_is_pinned_to_its_registry_digest(docker_client: Any, registry: Any, tiny_image: str) -> None:
    target = f"{registry.host}/sentikit/k8s-pin"
    tag = tiny_image.split(":")[1]
    docker_client.images.get(tiny_image).tag(target, tag=tag)
    try:
        digest = ""
        for chunk in docker_client.images.push(target, tag=tag, stream=True, decode=True,
                                               auth_config={"username": registry.username, "password": registry.password}):
            assert "error" not in chunk, chunk
            digest = (chunk.get("aux") or {}).get("Digest", digest)
        assert digest.startswith("sha256:")
        assert pinned_image(f"{target}:{tag}") == f"{target}@{digest}"
        assert pinned_image(tiny_image) == tiny_image  # never pushed: no digest, keep the tag
    finally:
        docker_client.images.remove(f"{target}:{tag}", force=True)
