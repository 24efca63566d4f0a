"""Build a prepared context on the local engine (what ``sentikit build`` does), never pulling."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..docker_engine import build_stream, docker_client, engine_message, image_platform, local_image, tag_image
from .dockerfile import POSTGRES_LABEL
from ..errors import ImageBuildError, InvalidInputError
from ..model import SentimentModel
from ..imageref import validate_tag
from ..push.registry import warn_if_not_cloud_platform
from .context import PreparedContext, prepare_context
from .dockerfile import DEFAULT_BASE_IMAGE, DEFAULT_PORT


@dataclass
class BuiltImage:
    """An image the engine built."""

    id: str
    tag: str
    size: int  # bytes
    labels: dict[str, str] = field(default_factory=dict)
    platform: str = ""  # os/architecture
    postgres: bool = False  # built with --postgres: psycopg 3 for a PostgreSQL-backed desk


def require_base_image(client: Any, base_image: str) -> None:
    """Fail unless ``base_image`` is in the engine: builds never pull."""
    try:
        local_image(client, base_image, hint="")
    except InvalidInputError:
        raise ImageBuildError(
            f"base image {base_image} is not present in the Docker engine, and sentikit never pulls during "
            f"a build. Get it with `docker pull {base_image}` (or, offline, build a stand-in with "
            "`sudo bash scripts/setup-test-env.sh`), or choose another one with --base-image"
        ) from None
    except Exception as exc:  # RegistryError from the engine: here it is a build problem
        raise ImageBuildError(str(exc)) from None


def _hint(error: str, log: str) -> str:
    text = f"{error}\n{log}"
    if "No matching distribution" in text or "is not a supported wheel" in text:
        return (f"\nhint: the wheelhouse was built for this host's Python ({sys.version.split()[0]}); "
                "the base image must run the same Python minor version, or pass --wheelhouse with "
                "wheels for it, or --from-pypi")
    if "Could not find a version" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return "\nhint: the build could not reach the package index; build offline (without --from-pypi)"
    return ""


def build_image(
    prepared: PreparedContext,
    *,
    tag: str,
    no_cache: bool = False,
    platform: str | None = None,
    on_log: Optional[Callable[[str], None]] = None,
    client: Any = None,
    extra_tags: tuple[str, ...] = (),
) -> BuiltImage:
    """Build ``prepared`` on the local engine and tag it; stream log lines to ``on_log``.

    Never pulls: the base image must be present locally (a missing one is reported with how
    to get it). Build errors leave as :class:`ImageBuildError` naming the failing step.
    """
    import docker

    validate_tag(tag)
    client = client or docker_client()
    require_base_image(client, prepared.context.base_image)
    image_id = build_stream(client, str(prepared.path), tag=tag, no_cache=no_cache, platform=platform,
                            on_log=on_log, hint=_hint)
    try:
        image = client.images.get(image_id)
    except docker.errors.ImageNotFound:
        raise ImageBuildError(f"the build finished but image {tag} is not in the engine") from None
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"the Docker engine failed: {engine_message(exc)}") from None
    for extra in extra_tags:
        tag_image(image, extra, error=ImageBuildError)
    return BuiltImage(id=image.id, tag=tag, size=int((image.attrs or {}).get("Size", 0)),
                      labels=dict(image.labels or {}), platform=image_platform(image),
                      postgres=(image.labels or {}).get(POSTGRES_LABEL) == "true")


def build(
    model: SentimentModel,
    *,
    tag: str,
    base_image: str = DEFAULT_BASE_IMAGE,
    port: int = DEFAULT_PORT,
    wheelhouse: Path | None = None,
    from_pypi: bool = False,
    postgres: bool = False,
    no_cache: bool = False,
    platform: str | None = None,
    progress: Optional[Callable[[str], None]] = None,
    on_log: Optional[Callable[[str], None]] = None,
    extra_tags: tuple[str, ...] = (),
) -> BuiltImage:
    """Prepare a context in a temporary directory and build it (what ``sentikit build`` does)."""
    validate_tag(tag)
    for extra in extra_tags:
        validate_tag(extra)
    # Cheap checks first: fail in a second, not after building the wheelhouse.
    client = docker_client()
    require_base_image(client, base_image)
    with tempfile.TemporaryDirectory(prefix="sentikit-build-") as tmp:
        prepared = prepare_context(model, Path(tmp) / "context", base_image=base_image, port=port,
                                   wheelhouse=wheelhouse, from_pypi=from_pypi, postgres=postgres,
                                   progress=progress)
        if progress:
            progress(f"building {tag} from {base_image}")
        built = build_image(prepared, tag=tag, no_cache=no_cache, platform=platform, on_log=on_log, client=client,
                            extra_tags=extra_tags)
    warn_if_not_cloud_platform(tag, built.platform)
    return built
