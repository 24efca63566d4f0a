"""Pushing a local image to a registry with a :class:`RegistryLogin`, and the result."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..docker_engine import docker_client, image_platform, local_image, login as engine_login, push_stream, scrub, tag_image
from ..errors import InvalidInputError, RegistryAuthError, RegistryError
from ..imageref import normalize_registry_url, parse_reference, validate_repository, validate_tag_name

CLOUD_PLATFORM = "linux/amd64"
ProgressCallback = Callable[[str, Optional[float]], None]  # (message, fraction or None)
AUTH_LABELS = {
    "aad-token-exchange": "Azure AD token exchange",
    "admin-credentials": "admin credentials",
    "password": "user name and password",
}


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for one registry; ``method`` says where they came from."""

    server: str
    username: str
    password: str = field(repr=False)
    method: str  # "aad-token-exchange", "admin-credentials" or "password"


@dataclass
class PushResult:
    """What was pushed, where, and how we authenticated."""

    reference: str  # registry/repository:tag
    digest: str  # sha256:...
    registry: str  # login server
    repository: str
    tag: str
    auth_method: str
    registry_created: bool = False

    @property
    def pinned(self) -> str:
        """``reference@digest``: what to deploy so the cloud pulls exactly this image."""
        return f"{self.reference}@{self.digest}"


def auth_description(method: str) -> str:
    """A human label for :attr:`PushResult.auth_method`."""
    return AUTH_LABELS.get(method, method)


def target_reference(image: str, repository: str | None, tag: str | None) -> tuple[str, str]:
    """The repository and tag to push ``image`` as, validated. Default: the image's own last path part and tag."""
    ref = parse_reference(image)
    if ref.digest:
        raise InvalidInputError(f"cannot push '{image}': give a tag, not a digest")
    return (validate_repository(repository or ref.repository.rsplit("/", 1)[-1]),
            validate_tag_name(tag or ref.tag_or_latest))



def password_login(image: str, username: str, password: str) -> RegistryLogin:
    """A user name and password for the registry that ``image`` names (a private image outside ACR)."""
    registry = parse_reference(image).registry if image else ""
    if not registry:
        raise InvalidInputError("--registry-username needs --image with a registry host")
    if not password:
        raise InvalidInputError("no registry password: name the variable that holds it with --registry-password-env")
    return RegistryLogin(registry.lower(), username, password, "password")


def warn_if_not_cloud_platform(image: str, platform: str) -> None:
    """ACI runs linux/amd64 only (Container Apps and most clusters too): say so before the image travels."""
    if platform != CLOUD_PLATFORM:
        warnings.warn(f"{image} is built for {platform}, but Azure Container Instances runs {CLOUD_PLATFORM} only: "
                      f"rebuild it with `sentikit build --platform {CLOUD_PLATFORM}`", UserWarning, stacklevel=2)


def push_image(
    image: str,
    login: RegistryLogin,
    *,
    repository: str | None = None,
    tag: str | None = None,
    docker_client_: Any = None,
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Log in, tag ``image`` as ``server/repository:tag``, push it, and return the digest."""
    repo, tag = target_reference(image, repository, tag)
    client = docker_client_ or docker_client()
    local = local_image(client, image, hint=f"build it first (sentikit build --tag {image})")
    warn_if_not_cloud_platform(image, image_platform(local))
    target = f"{login.server}/{repo}"
    try:
        engine_login(client, server=login.server, username=login.username, password=login.password)
    except RegistryAuthError as exc:
        raise RegistryAuthError(f"registry {login.server} refused the login ({auth_description(login.method)}): {exc}") from None
    tag_image(local, f"{target}:{tag}")
    try:
        digest = push_stream(client, target, tag=tag, username=login.username, password=login.password,
                             on_progress=on_progress)
    except RegistryAuthError as exc:
        hint = ""
        if login.method == "aad-token-exchange":
            # The login worked, so the token is fine: the identity lacks the right to write.
            hint = (f"; the identity needs the AcrPush role on registry {login.server} (`az role assignment create "
                    "--role AcrPush --assignee IDENTITY --scope REGISTRY_ID`)")
        raise RegistryAuthError(f"push of {target}:{tag} denied: {scrub(str(exc), login.password)}{hint}") from None
    except RegistryError as exc:
        raise type(exc)(f"push of {target}:{tag} failed: {scrub(str(exc), login.password)}") from None
    return PushResult(reference=f"{target}:{tag}", digest=digest, registry=login.server, repository=repo, tag=tag,
                      auth_method=login.method)


def push_to_registry(
    image: str,
    *,
    registry_url: str,
    username: str,
    password: str,
    repository: str | None = None,
    tag: str | None = None,
    docker_client_: Any = None,
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Push to any registry with a user name and password."""
    server = normalize_registry_url(registry_url)
    if not username:
        raise InvalidInputError("--username is required with --registry-url")
    if not password:
        raise InvalidInputError("no password: pipe it to --password-stdin or name a variable with --password-env")
    login = RegistryLogin(server, username, password, "password")
    return push_image(image, login, repository=repository, tag=tag, docker_client_=docker_client_,
                      on_progress=on_progress)
