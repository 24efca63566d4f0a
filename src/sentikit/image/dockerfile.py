"""Dockerfile rendering, pure: ``Dockerfile.template`` + a :class:`DockerContext` -> text.

The template ships inside the package (``sentikit/image/templates/Dockerfile.template``, read
with :mod:`importlib.resources`); the repository's top-level ``Dockerfile.template`` is a
symbolic link to it, so there is one file to edit and a wheel carries the real thing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Mapping

from .. import __version__
from ..errors import InvalidInputError
from ..model import SentimentModel

TEMPLATE_NAME = "Dockerfile.template"
DEPS_STAGE_LABEL = "sentikit.stage=deps"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEFAULT_USER = "sentikit"
DEFAULT_UID = 10001
DEFAULT_PORT = 8000
POSTGRES_LABEL = "io.sentikit.desk.postgres"  # "true" on images built with `sentikit build --postgres` (psycopg in)
DOCKERIGNORE = "*\n!Dockerfile\n!model/\n!dist/\n!wheelhouse/\n!requirements.txt\n!host-ca.pem\n"
_FIELD = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class DockerContext:
    """The values rendered into the Dockerfile template."""

    base_image: str
    labels: Mapping[str, str]
    port: int = DEFAULT_PORT
    user: str = DEFAULT_USER
    uid: int = DEFAULT_UID
    dependencies: str = "wheelhouse"  # "wheelhouse" (offline, --no-index) or "pypi"
    host_ca: bool = False  # pypi only: trust the host's CA bundle (copied as host-ca.pem) in the deps stage


def load_template() -> str:
    """The packaged Dockerfile.template."""
    return (resources.files("sentikit.image") / "templates" / TEMPLATE_NAME).read_text(encoding="utf-8")


def _label_value(value: str) -> str:
    # A double-quoted Dockerfile word: escape backslashes, quotes and $ (LABEL expands variables).
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", " ") + '"'


def _install_dependencies(context: DockerContext) -> str:
    if context.dependencies == "wheelhouse":
        return ("COPY wheelhouse/ /wheels/\n"
                "RUN python3 -m venv /opt/venv \\\n"
                " && /opt/venv/bin/python -m pip install --no-index --find-links /wheels --requirement /wheels/requirements.txt")
    if context.dependencies == "pypi":
        if context.host_ca:
            # The CA bundle stays in this stage; the final image never sees it.
            return ("COPY requirements.txt host-ca.pem /tmp/\n"
                    "RUN python3 -m venv /opt/venv \\\n"
                    " && PIP_CERT=/tmp/host-ca.pem /opt/venv/bin/python -m pip install --requirement /tmp/requirements.txt")
        return ("COPY requirements.txt /tmp/\n"
                "RUN python3 -m venv /opt/venv \\\n"
                " && /opt/venv/bin/python -m pip install --requirement /tmp/requirements.txt")
    raise InvalidInputError(f"unknown dependency source {context.dependencies!r}: use 'wheelhouse' or 'pypi'")


def render_dockerfile(template: str, context: DockerContext) -> str:
    """Fill the template's ``{{ field }}`` placeholders from ``context``; no I/O."""
    labels = sorted(context.labels.items())
    values = {
        "base_image": context.base_image,
        "port": str(context.port),
        "user": context.user,
        "uid": str(context.uid),
        "install_dependencies": _install_dependencies(context),
        "labels": "LABEL " + " \\\n      ".join(f"{key}={_label_value(value)}" for key, value in labels)
        if labels else "",
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise InvalidInputError(f"Dockerfile template has an unknown field {{{{ {name} }}}}")
        return values[name]

    return _FIELD.sub(fill, template)


def image_labels(model: SentimentModel, *, base_image: str, port: int = DEFAULT_PORT,
                 extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """OCI labels plus the model's identity; built from the manifest, so rebuilding is cache-friendly."""
    labels = {
        "org.opencontainers.image.title": f"sentikit-{model.name}",
        "org.opencontainers.image.description": f"Sentiment model {model.reference} served by sentikit "
                                                f"(REST API on port {port})",
        "org.opencontainers.image.version": str(model.version),
        "org.opencontainers.image.created": str(model.manifest.get("created", "")),
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.base.name": base_image,
        "io.sentikit.version": __version__,
        "io.sentikit.model.name": model.name,
        "io.sentikit.model.version": str(model.version),
        "io.sentikit.model.checksum": f"sha256:{model.checksum}",
        "io.sentikit.model.metrics": json.dumps(model.metrics, sort_keys=True, separators=(",", ":")),
    }
    labels.update(extra or {})
    return labels


