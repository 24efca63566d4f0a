"""Container images: render Dockerfile.template, assemble a build context, build it with the Docker SDK.

* :mod:`.dockerfile`: the template and its pure rendering.
* :mod:`.context`: the serving dependencies, the wheelhouse cache, sentikit's wheel, the context on disk.
* :mod:`.build`: building a context on the local engine.

The image carries only what serving needs (the ``serve`` extra: Starlette, uvicorn and their
dependencies, pinned to the versions installed here), never scikit-learn, Typer, Rich or SDKs.
"""

from __future__ import annotations

from ..imageref import validate_tag
from .build import BuiltImage, build, build_image, require_base_image
from .context import (
    PreparedContext,
    build_sentikit_wheel,
    build_wheelhouse,
    default_cache_dir,
    prepare_context,
    serving_requirements,
)
from .dockerfile import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_PORT,
    DEPS_STAGE_LABEL,
    TEMPLATE_NAME,
    DockerContext,
    image_labels,
    load_template,
    render_dockerfile,
)

__all__ = [
    "DEFAULT_BASE_IMAGE", "DEFAULT_PORT", "DEPS_STAGE_LABEL", "TEMPLATE_NAME", "BuiltImage", "DockerContext",
    "PreparedContext", "build", "build_image", "build_sentikit_wheel", "build_wheelhouse", "default_cache_dir",
    "image_labels", "load_template", "prepare_context", "render_dockerfile", "require_base_image",
    "serving_requirements", "validate_tag",
]
