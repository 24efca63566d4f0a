"""The one door to the Docker engine: a connected client, and the build, push and run helpers.

Every Docker SDK error stops here and leaves as a sentikit error: no engine ->
:class:`~sentikit.errors.DockerUnavailableError` (with how to start one), a missing local image
-> :class:`~sentikit.errors.InvalidInputError` (with how to get it), engine refusals ->
the error class the caller names.
"""

from __future__ import annotations

import os
import re
from collections import deque
from typing import Any, Callable, Iterator, Optional

from .errors import DockerUnavailableError, ImageBuildError, InvalidInputError, RegistryAuthError, RegistryError, SentikitError
from .imageref import parse_reference

# Builds stream for minutes; pushes too. The SDK's default (60 s) would cut them off.
CLIENT_TIMEOUT = 300
LogCallback = Callable[[str], None]
ProgressCallback = Callable[[str, Optional[float]], None]  # (message, fraction or None)
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def docker_client(timeout: int = CLIENT_TIMEOUT) -> Any:
    """A connected Docker SDK client, or :class:`DockerUnavailableError` saying how to start an engine."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, PermissionError...
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        reason = str(exc).split("(")[0].strip() or exc.__class__.__name__
        raise DockerUnavailableError(
            f"cannot reach a Docker engine at {host} ({reason}). Start one (`sudo dockerd &`, "
            "`sudo systemctl start docker`, or Docker Desktop) or set DOCKER_HOST; on CI machines "
            "`sudo bash scripts/setup-test-env.sh` installs and starts it"
        ) from None
    return client


def engine_message(exc: Any) -> str:
    """The engine's own explanation of an ``APIError`` (first line)."""
    return str(getattr(exc, "explanation", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def local_image(client: Any, reference: str, *, hint: str) -> Any:
    """The image ``reference`` from the engine; a missing one is a user error ending in ``hint``."""
    import docker

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise InvalidInputError(f"image {reference} is not in the local Docker engine: {hint}") from None
    except docker.errors.APIError as exc:
        raise RegistryError(f"the Docker engine failed reading {reference}: {engine_message(exc)}") from None


def image_platform(image: Any) -> str:
    """``os/architecture`` of a local image (``linux/amd64``)."""
    attrs = getattr(image, "attrs", {}) or {}
    return f"{attrs.get('Os') or 'linux'}/{attrs.get('Architecture') or 'unknown'}"


def build_stream(
    client: Any,
    path: str,
    *,
    tag: str,
    no_cache: bool = False,
    platform: str | None = None,
    on_log: Optional[LogCallback] = None,
    hint: Callable[[str, str], str] = lambda error, log: "",
) -> str:
    """Build the context at ``path`` as ``tag``; stream log lines to ``on_log``; return the image id.

    Never pulls. Build errors arrive inside the log stream and leave as :class:`ImageBuildError`
    naming the failing step and its last log lines, plus ``hint(error, log)``.
    """
    import docker

    step = "(before the first step)"
    recent: deque[str] = deque(maxlen=15)
    image_id = ""
    try:
        stream = client.api.build(path=path, tag=tag, rm=True, forcerm=True, decode=True, nocache=no_cache,
                                  platform=platform, pull=False)
        for chunk in stream:
            if "error" in chunk:
                detail = "\n".join(line for line in recent if line.strip())
                raise ImageBuildError(
                    f"image build failed at {step}: {chunk['error'].strip()}"
                    + (f"\nlast log lines:\n{detail}" if detail else "")
                    + hint(chunk["error"], detail)
                )
            text = chunk.get("stream")
            if text:
                for line in text.rstrip("\n").splitlines():
                    match = _STEP.match(line)
                    if match:
                        step = f"step {match.group(1)}/{match.group(2)} ({match.group(3)})"
                        recent.clear()
                    recent.append(line)
                    if on_log:
                        on_log(line)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"the Docker engine refused the build: {engine_message(exc)}") from None
    except docker.errors.DockerException as exc:
        raise ImageBuildError(f"the Docker engine failed during the build: {exc}") from None
    return image_id or tag


def tag_image(image: Any, reference: str, *, error: type[SentikitError] = RegistryError) -> None:
    """Tag ``image`` as ``reference`` (``NAME[:TAG]``; the tag defaults to ``latest``)."""
    import docker

    ref = parse_reference(reference)
    try:
        image.tag(ref.name, tag=ref.tag_or_latest)
    except docker.errors.APIError as exc:
        raise error(f"the Docker engine could not tag the image as {reference}: {engine_message(exc)}") from None


def login(client: Any, *, server: str, username: str, password: str) -> None:
    """Log the engine in to ``server``; the daemon checks the credentials here."""
    import docker

    try:
        client.login(username=username, password=password, registry=server, reauth=True)
    except docker.errors.APIError as exc:
        raise RegistryAuthError(scrub(engine_message(exc), password)) from None


def push_stream(client: Any, name: str, *, tag: str, username: str, password: str,
                on_progress: Optional[ProgressCallback] = None) -> str:
    """Push ``name:tag`` with these credentials; return the digest the registry answered with.

    Push errors arrive in the stream, not as exceptions: each leaves as :class:`RegistryError`
    (:class:`RegistryAuthError` when the registry denied access), the password scrubbed.
    """
    import docker

    digest = ""
    layers: dict[str, tuple[int, int]] = {}
    try:
        for chunk in _chunks(client.images.push(name, tag=tag, stream=True, decode=True,
                                                auth_config={"username": username, "password": password})):
            if "error" in chunk:
                message = scrub(str(chunk.get("error")), password)
                lowered = message.lower()
                denied = "denied" in lowered or "unauthorized" in lowered or "authentication required" in lowered
                raise (RegistryAuthError if denied else RegistryError)(message)
            aux = chunk.get("aux") or {}
            if aux.get("Digest"):
                digest = str(aux["Digest"])
            if on_progress and chunk.get("id") and chunk.get("status"):
                detail = chunk.get("progressDetail") or {}
                if detail.get("total"):
                    layers[chunk["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
                elif chunk["status"] in ("Pushed", "Layer already exists") and chunk["id"] in layers:
                    layers[chunk["id"]] = (layers[chunk["id"]][1], layers[chunk["id"]][1])
                done = sum(c for c, _ in layers.values())
                total = sum(t for _, t in layers.values())
                on_progress(f"pushing {name}:{tag}", done / total if total else None)
    except docker.errors.APIError as exc:
        raise RegistryError(scrub(engine_message(exc), password)) from None
    if not digest:
        raise RegistryError("the push finished without a digest")
    return digest


def _chunks(stream: Any) -> Iterator[dict[str, Any]]:
    for chunk in stream:
        if isinstance(chunk, dict):
            yield chunk


def scrub(text: str, *secrets: str) -> str:
    """Never echo a secret back, even if an engine message quotes it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def container_logs(container: Any, tail: int | str = "all") -> str:
    """A container's stdout and stderr as text; empty when it is already gone."""
    try:
        return bytes(container.logs(stdout=True, stderr=True, tail=tail)).decode("utf-8", errors="replace")
    except Exception:  # the container may be gone already: logs are best effort in reports
        return ""
