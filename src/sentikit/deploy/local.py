"""``deploy --target local``: run a sentikit image on the local Docker engine, as ACI does remotely.

A deployment is one container named after the deployment and labelled
``io.sentikit.deployment=<name>``; its port is published on 127.0.0.1 only, and it gets the CPU
quota and memory limit that ``--cpu`` / ``--memory`` ask for, as on ACI. Re-deploying
replaces the container. With the desk (``--monitor``) its SQLite store is on a named volume,
``<name>-monitor`` mounted at ``/data``, which outlives the container: deploying again (a new
image) keeps the history, and ``delete`` leaves the volume for ``docker volume rm``. Docker SDK
errors stop here and leave as sentikit errors.
"""

from __future__ import annotations

import re
from typing import Any

from ..config import SERVER_PORT_ENV_VAR
from ..docker_engine import container_logs, docker_client, engine_message, local_image
from ..errors import DeploymentError, InvalidInputError
from .base import Deployment, DeployOptions, ProgressCallback, register_target
from .desk import DATA_DIR, STORE_ENV, describe_store, volume_name
from .readiness import smoke_test, wait_ready

DEPLOYMENT_LABEL = "io.sentikit.deployment"
DEFAULT_CONTAINER_PORT = 8000
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
STOP_TIMEOUT = 10  # seconds for uvicorn's graceful shutdown before SIGKILL
MAX_LOCAL_WAIT = 300.0
GIB = 1024**3
MIN_MEMORY_GB = 0.01  # Docker refuses limits under 6 MiB


def validate_name(name: str) -> str:
    """Deployment names double as container names: lowercase letters, digits, '.', '_', '-'."""
    if not NAME_PATTERN.match(name or ""):
        raise InvalidInputError(
            f"invalid deployment name {name!r}: use 1-63 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@register_target("local")
class LocalTarget:
    """The local Docker engine; ``host_port`` is the port on 127.0.0.1 (None: a free one)."""

    name = "local"

    def __init__(self, *, host_port: int | None = None, client: Any = None) -> None:
        if host_port is not None and not 1 <= host_port <= 65535:
            raise InvalidInputError(f"invalid port {host_port}: use 1-65535")
        self.host_port = host_port
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def describe(self) -> str:
        return "the local Docker engine"

    def deploy(self, options: DeployOptions, *, on_progress: ProgressCallback | None = None) -> Deployment:
        """Run ``options.image`` as container ``options.name`` (replacing a previous one), wait, smoke-test.

        Secure values (the API key) reach the container but never the returned :class:`Deployment`.
        """
        import docker

        validate_name(options.name)
        options.validate()

        def say(message: str) -> None:
            if on_progress:
                on_progress(message, None)

        self._check_size(options)
        image = local_image(self.client, options.image, hint=f"build it with `sentikit build --tag {options.image}`")
        container_port = _container_port(image)
        volumes = self._desk_volume(options, image)
        existing = self._find(options.name, any_owner=True)
        if existing is not None:
            if existing.labels.get(DEPLOYMENT_LABEL) != options.name:
                raise InvalidInputError(
                    f"a container named {options.name!r} exists and was not created by sentikit; choose another --name"
                )
            say(f"replacing the running deployment {options.name}")
            _remove(existing)
        say(f"starting {options.image} as {options.name}")
        try:
            container = self.client.containers.run(
                options.image,
                name=options.name,
                detach=True,
                environment={**options.environment(), **options.secrets()},
                volumes=volumes,
                ports={f"{container_port}/tcp": ("127.0.0.1", self.host_port)},
                labels={DEPLOYMENT_LABEL: options.name},
                restart_policy={"Name": "unless-stopped"},
                nano_cpus=round(options.cpu * 1e9),
                mem_limit=round(options.memory_gb * GIB),
            )
        except docker.errors.APIError as exc:
            message = engine_message(exc)
            if "port is already allocated" in message or "address already in use" in message:
                raise InvalidInputError(
                    f"port {self.host_port} on 127.0.0.1 is already in use; choose another --port") from None
            raise DeploymentError(f"the Docker engine could not start {options.image}: {message}") from None

        secure_names = sorted(options.secrets())
        deployment = _describe(container, image_name=options.image, env_names=sorted(options.environment()),
                               secure_names=secure_names)
        if options.wait and deployment.url:
            say(f"waiting for {deployment.url}/readyz")
            timeout = min(options.timeout, MAX_LOCAL_WAIT)

            def alive() -> str | None:
                return _exited(container, options.name)

            try:
                if options.smoke_test:
                    result = smoke_test(deployment.url, api_key=options.api_key, timeout=timeout, alive=alive,
                                        monitor=options.desk is not None)
                else:
                    wait_ready(deployment.url, timeout=timeout, alive=alive)
                    result = None
            except DeploymentError:
                raise
            except Exception as exc:  # CheckFailedError: add what the container said
                raise type(exc)(f"{exc}; last log lines:\n{_tail(container)}") from None
            deployment = _describe(container, image_name=options.image, env_names=sorted(options.environment()),
                                   secure_names=secure_names)
            if result is not None:
                deployment.detail["smoke_test"] = result
        if options.desk is not None:
            deployment.detail["monitor_store"] = describe_store(
                options.desk, kept_in=f"Docker volume {volume_name(options.name)}" if volumes else "")
        return deployment

    def _desk_volume(self, options: DeployOptions, image: Any) -> dict[str, dict[str, str]] | None:
        """The named volume of the desk's SQLite store (created once, labelled), mounted at /data."""
        import docker

        if options.desk is None or options.desk.shared:
            return None
        image_env = (image.attrs.get("Config") or {}).get("Env") or []
        if not any(item.startswith(f"{STORE_ENV}=") for item in image_env):
            raise InvalidInputError(f"{options.image} was built before the desk (no {DATA_DIR} for its store): "
                                    f"rebuild it with `sentikit build --tag {options.image}`")
        name = volume_name(options.name)
        try:
            try:
                volume = self.client.volumes.get(name)
            except docker.errors.NotFound:
                volume = self.client.volumes.create(name, labels={DEPLOYMENT_LABEL: options.name})
        except docker.errors.APIError as exc:
            raise DeploymentError(f"the Docker engine could not create volume {name}: {engine_message(exc)}") from None
        if (volume.attrs.get("Labels") or {}).get(DEPLOYMENT_LABEL) != options.name:
            raise InvalidInputError(f"a Docker volume named {name!r} exists and was not created by sentikit for "
                                    f"{options.name!r}; choose another --name")
        return {name: {"bind": DATA_DIR, "mode": "rw"}}

    def status(self, name: str) -> Deployment:
        validate_name(name)
        container = self._find(name)
        if container is None:
            return Deployment(name=name, target="local", state="NotFound")
        return _describe(container)

    def logs(self, name: str, tail: int | None = None) -> str:
        validate_name(name)
        if tail is not None and tail < 1:
            raise InvalidInputError("--tail must be at least 1")
        container = self._find(name)
        if container is None:
            raise InvalidInputError(f"no local deployment named {name!r} (see `sentikit status --target local`)")
        return container_logs(container, "all" if tail is None else tail)

    def delete(self, name: str) -> Deployment:
        validate_name(name)
        container = self._find(name)
        if container is None:
            return Deployment(name=name, target="local", state="NotFound")
        image = (container.attrs.get("Config") or {}).get("Image")
        _remove(container)
        kept = [m.get("Name") for m in container.attrs.get("Mounts") or [] if m.get("Name") == volume_name(name)]
        detail: dict[str, object] = {"kept_volume": kept[0]} if kept else {}  # the desk's history: `docker volume rm` it
        return Deployment(name=name, target="local", state="Deleted", image=image, detail=detail)

    def _check_size(self, options: DeployOptions) -> None:
        """--cpu and --memory within what the engine can give, before anything is replaced."""
        import docker

        if options.memory_gb < MIN_MEMORY_GB:
            raise InvalidInputError(f"invalid --memory {options.memory_gb:g}: at least {MIN_MEMORY_GB} GB")
        try:
            cpus = int(self.client.info().get("NCPU") or 0)
        except docker.errors.APIError as exc:
            raise DeploymentError(f"the Docker engine failed: {engine_message(exc)}") from None
        if not 0.01 <= options.cpu <= (cpus or options.cpu):
            raise InvalidInputError(f"invalid --cpu {options.cpu:g}: the local Docker engine has {cpus} CPUs "
                                    "(use 0.01 up to that)")

    def _find(self, name: str, *, any_owner: bool = False) -> Any:
        import docker

        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise DeploymentError(f"the Docker engine failed: {engine_message(exc)}") from None
        if not any_owner and container.labels.get(DEPLOYMENT_LABEL) != name:
            return None
        return container


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


def _remove(container: Any) -> None:
    import docker

    try:
        container.stop(timeout=STOP_TIMEOUT)  # graceful first: uvicorn finishes in-flight requests
        container.remove(v=True, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        raise DeploymentError(f"could not remove container {container.name}: {engine_message(exc)}") from None


def _exited(container: Any, name: str) -> str | None:
    container.reload()
    # With restart policy unless-stopped a crashing server shows up as restarts, not as "exited".
    if container.status in ("exited", "dead", "restarting") or container.attrs.get("RestartCount"):
        return f"container {name} exited before it was ready:\n{_tail(container)}"
    return None


def _tail(container: Any, lines: int = 20) -> str:
    return container_logs(container, lines).rstrip() or "(no logs)"


def _describe(container: Any, *, image_name: str | None = None, env_names: list[str] | None = None,
              secure_names: list[str] | None = None) -> Deployment:
    container.reload()
    state = container.attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    url = None
    for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
        if bindings:
            url = f"http://127.0.0.1:{bindings[0]['HostPort']}"
            break
    status = str(state.get("Status", "unknown"))
    detail: dict[str, object] = {"container_id": container.short_id, "status": status}
    host = container.attrs.get("HostConfig") or {}
    if host.get("NanoCpus"):
        detail["cpu"] = host["NanoCpus"] / 1e9
    if host.get("Memory"):
        detail["memory_gb"] = round(host["Memory"] / GIB, 3)
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
