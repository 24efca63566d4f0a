"""The one image-reference grammar: ``[REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST]``.

It follows the distribution project's reference grammar (the one ``docker`` applies): path
components are lowercase alphanumerics joined by ``.``, ``_``, ``__`` or dashes; a tag is up to
128 word characters, dots and dashes, not starting with either; the first component is a
registry when it holds a dot or a colon or is ``localhost``. ``build``, ``push`` and ``deploy``
all parse references here, and so does the Docker layer below them (``docker_engine``): it sits
beside that layer, below every stage, so the dependencies point one way.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from .errors import InvalidInputError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
REGISTRY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$")
MAX_REFERENCE = 255
DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; ``registry`` is empty for a local or Docker Hub name."""

    registry: str
    repository: str
    tag: str = ""  # empty: none given (``latest`` when pulled or pushed)
    digest: str = ""

    @property
    def name(self) -> str:
        """``registry/repository`` (or just the repository)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def tag_or_latest(self) -> str:
        return self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> str:
        """``name:tag``."""
        return f"{self.name}:{tag}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str) -> ImageRef:
    """Parse ``text`` or raise :class:`InvalidInputError` saying what a reference looks like."""
    reference = (text or "").strip()
    problem = f"invalid image reference {text!r}: use [REGISTRY/]NAME[:TAG] with a lowercase name, e.g. sentiment:1"
    if not reference or len(reference) > MAX_REFERENCE or any(c.isspace() for c in reference):
        raise InvalidInputError(problem)
    rest, _, digest = reference.partition("@")
    registry = ""
    first, slash, remainder = rest.partition("/")
    if slash and _is_registry(first):
        registry, rest = first, remainder
    repository, tag = rest, ""
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = rest.rsplit(":", 1)
        if not TAG_RE.match(tag):
            raise InvalidInputError(
                f"invalid tag {tag!r} in {text!r}: up to 128 letters, digits, _ . -, not starting with . or -")
    if registry and not REGISTRY_RE.match(registry):
        raise InvalidInputError(problem)
    if not REPOSITORY_RE.match(repository):
        raise InvalidInputError(problem)
    if digest and not DIGEST_RE.match(digest):
        raise InvalidInputError(f"invalid digest {digest!r} in {text!r}: expected sha256: and 64 hex digits")
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)


def validate_tag(reference: str) -> str:
    """A reference to build or tag an image as (no digest); returned unchanged."""
    if parse_reference(reference).digest:
        raise InvalidInputError(f"cannot tag an image as {reference!r}: give a tag, not a digest")
    return reference


def validate_repository(repository: str) -> str:
    """A repository path inside a registry."""
    if not REPOSITORY_RE.match(repository or ""):
        raise InvalidInputError(f"invalid repository '{repository}': lowercase letters, digits and . _ - / separators")
    return repository


def validate_tag_name(tag: str) -> str:
    """A bare tag (the part after the colon)."""
    if not TAG_RE.match(tag or ""):
        raise InvalidInputError(f"invalid tag '{tag}': up to 128 letters, digits, _ . -, not starting with . or -")
    return tag


def normalize_registry_url(url: str) -> str:
    """``https://host:port/`` or ``host:port`` → ``host:port`` (the form Docker uses)."""
    text = (url or "").strip()
    invalid = f"invalid registry URL '{url}': expected HOST[:PORT] or https://HOST[:PORT]"
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise InvalidInputError(invalid)
        text = parts.netloc
    text = text.rstrip("/")
    if not REGISTRY_RE.match(text):
        raise InvalidInputError(invalid)
    return text.lower()


def is_acr_host(host: str) -> bool:
    """Whether ``host`` is an Azure Container Registry login server (``*.azurecr.io`` and sovereign clouds)."""
    return host.lower().endswith((".azurecr.io", ".azurecr.cn", ".azurecr.us"))
