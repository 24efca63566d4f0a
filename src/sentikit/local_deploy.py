"""``deploy --target local``: run a sentikit image on the local Docker engine, like ACI does remotely.

A deployment is one container named after the deployment and labelled
``io.sentikit.deployment=<name>``; its port is published on 127.0.0.1 only. Re-deploying
replaces the container. Docker SDK errors stop here and leave as sentikit errors.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping, Optional

from .build import docker_client
from .config import SERVER_PORT_ENV_VAR
from .deployment import Deployment
from .errors import DeploymentError, InvalidInputError

DEPLOYMENT_LABEL = "io.sentikit.deployment"
DEFAULT_CONTAINER_PORT = 8000
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
STOP_TIMEOUT = 10  # seconds for uvicorn's graceful shutdown before SIGKILL

Progress = Callable[[str], None]


def validate_name(name: str) -> str:
    """Deployment names double as container names: lowercase letters, digits, '.', '_', '-'."""
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid deployment name {name!r}: use 1-63 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def deploy_local(
    image: str,
    *,
    name: str,
    port: Optional[int] = None,
    env: Mapping[str, str] | None = None,
    secure_env: Mapping[str, str] | None = None,
    wait_seconds: float = 60,
    progress: Optional[Progress] = None,
) -> Deployment:
    """Run ``image`` as container ``name`` (replacing a previous one), wait for /readyz, return its URL.

    ``port`` is the host port on 127.0.0.1 (None: a free one). ``secure_env`` values (the API
    key) reach the container but never the returned :class:`Deployment`. ``wait_seconds=0``
    returns as soon as the container is started.
    """
    import docker

    validate_name(name)
    if port is not None and not 1 <= port <= 65535:
        raise InvalidInputError(f"invalid port {port}: use 1-65535")
    client = docker_client()
    try:
        image_obj = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise InvalidInputError(
            f"image {image} is not in the local Docker engine: build it with `sentikit build --tag {image}`"
        ) from None
    container_port = _container_port(image_obj)
    environment = {**(env or {}), **(secure_env or {})}

    existing = _find(client, name, any_owner=True)
    if existing is not None:
        if existing.labels.get(DEPLOYMENT_LABEL) != name:
            raise InvalidInputError(
                f"a container named {name!r} exists and was not created by sentikit; choose another --name"
            )
        if progress:
            progress(f"replacing the running deployment {name}")
        _remove(existing)

    if progress:
        progress(f"starting {image} as {name}")
    try:
        container = client.containers.run(
            image,
            name=name,
            detach=True,
            environment=environment,
            ports={f"{container_port}/tcp": ("127.0.0.1", port)},
            labels={DEPLOYMENT_LABEL: name},
            restart_policy={"Name": "unless-stopped"},
        )
    except docker.errors.APIError as exc:
        message = str(exc.explanation or exc)
        if "port is already allocated" in message or "address already in use" in message:
            raise InvalidInputError(f"port {port} on 127.0.0.1 is already in use; choose another --port") from None
        raise DeploymentError(f"the Docker engine could not start {image}: {message}") from None

    deployment = _describe(container, image_name=image, env_names=sorted(env or {}),
                           secure_names=sorted(secure_env or {}))
    if wait_seconds > 0:
        if progress:
            progress(f"waiting for {deployment.url}/readyz")
        _wait_ready(container, deployment, wait_seconds)
        deployment = _describe(container, image_name=image, env_names=sorted(env or {}),
                               secure_names=sorted(secure_env or {}))
    return deployment


def local_status(name: str) -> Deployment:
    """The state of local deployment ``name`` (state ``NotFound`` when there is none)."""
    validate_name(name)
    container = _find(docker_client(), name)
    if container is None:
        return Deployment(name=name, target="local", state="NotFound")
    return _describe(container)


def local_logs(name: str, tail: Optional[int] = None) -> str:
    """The container's stdout and stderr (the last ``tail`` lines, or all)."""
    validate_name(name)
    container = _find(docker_client(), name)
    if container is None:
        raise InvalidInputError(f"no local deployment named {name!r} (see `sentikit status --target local`)")
    return bytes(container.logs(tail="all" if tail is None else tail)).decode("utf-8", errors="replace")


def delete_local(name: str) -> bool:
    """Stop and remove local deployment ``name``; False when there was none."""
    validate_name(name)
    container = _find(docker_client(), name)
    if container is None:
        return False
    _remove(container)
    return True


# --- helpers ----------------------------------------------------------------------------------


def _container_port(image: Any) -> int:
    config = image.attrs.get("Config") or {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key == SERVER_PORT_ENV_VAR and value.isdigit():
            return int(value)
    for exposed in config.get("ExposedPorts") or {}:
        number, _, proto = exposed.partition("/")
        if proto == "tcp" and number.isdigit():
            return int(number)
    return DEFAULT_CONTAINER_PORT


def _find(client: Any, name: str, *, any_owner: bool = False) -> Any:
    import docker

    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise DeploymentError(f"the Docker engine failed: {exc.explanation or exc}") from None
    if not any_owner and container.labels.get(DEPLOYMENT_LABEL) != name:
        return None
    return container


def _remove(container: Any) -> None:
    import docker

    try:
        container.stop(timeout=STOP_TIMEOUT)  # graceful first: uvicorn finishes in-flight requests
        container.remove(v=True, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        raise DeploymentError(f"could not remove container {container.name}: {exc.explanation or exc}") from None


def _describe(container: Any, *, image_name: str | None = None, env_names: list[str] | None = None,
              secure_names: list[str] | None = None) -> Deployment:
    container.reload()
    state = container.attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    url = None
    for key, bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
        if bindings:
            url = f"http://127.0.0.1:{bindings[0]['HostPort']}"
            break
    status = str(state.get("Status", "unknown"))
    detail: dict[str, object] = {"container_id": container.short_id, "status": status}
    if health:
        detail["health"] = health
    if status == "exited":
        detail["exit_code"] = state.get("ExitCode")
    if env_names is not None:
        detail["env"] = env_names
    if secure_names:
        detail["secure_env"] = secure_names  # names only, never values
    image = image_name or (container.attrs.get("Config") or {}).get("Image")
    return Deployment(name=container.name, target="local", state=status.capitalize(), url=url, image=image,
                      detail=detail)


def _wait_ready(container: Any, deployment: Deployment, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{deployment.url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except OSError as exc:
            last_error = str(getattr(exc, "reason", exc))
        container.reload()
        # With restart policy unless-stopped a crashing server shows up as restarts, not as "exited".
        if container.status in ("exited", "dead", "restarting") or container.attrs.get("RestartCount"):
            raise DeploymentError(
                f"container {deployment.name} exited before it was ready:\n{_tail(container)}"
            )
        time.sleep(0.1)
    raise DeploymentError(
        f"{deployment.url}/readyz did not answer 200 within {wait_seconds:g} s ({last_error}); "
        f"last log lines:\n{_tail(container)}"
    )


def _tail(container: Any, lines: int = 20) -> str:
    try:
        return bytes(container.logs(tail=lines)).decode("utf-8", errors="replace").rstrip()
    except Exception:  # the container may be gone already
        return "(no logs)"
