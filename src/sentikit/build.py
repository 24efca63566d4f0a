"""Container images: render Dockerfile.template, prepare a build context, build with the Docker SDK.

* :func:`render_dockerfile` is pure (template + :class:`DockerContext` -> text).
* :func:`prepare_context` writes a complete build context: Dockerfile, .dockerignore, the model's
  serving files, sentikit's wheel (``pip wheel --no-deps``) and either a wheelhouse of the
  serving dependencies (offline builds, the default) or their pinned requirements (``from_pypi``).
  The same directory works with ``docker build`` and ``az acr build`` (``sentikit build --render-only``).
* :func:`build_image` builds it through the engine's API and returns a :class:`BuiltImage`.

The image carries only what serving needs (the ``serve`` extra: Starlette, uvicorn and their
dependencies, pinned to the versions installed here), never scikit-learn, Typer, Rich or SDKs.
Docker SDK errors stop here and leave as :class:`~sentikit.errors.DockerUnavailableError` or
:class:`~sentikit.errors.ImageBuildError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from . import __version__
from .errors import DockerUnavailableError, ImageBuildError, InvalidInputError, ModelIntegrityError
from .model import MANIFEST_FILE, SCORER_FILE, SentimentModel, verify_model_dir

TEMPLATE_NAME = "Dockerfile.template"
DEPS_STAGE_LABEL = "sentikit.stage=deps"
DEFAULT_USER = "sentikit"
DEFAULT_UID = 10001
DEFAULT_PORT = 8000
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
DOCKERIGNORE = "*\n!Dockerfile\n!model/\n!dist/\n!wheelhouse/\n!requirements.txt\n!host-ca.pem\n"
# Docker image references: [registry[:port]/]path[:tag] (lowercase path components).
IMAGE_REF_PATTERN = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
_FIELD = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

Progress = Callable[[str], None]


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


@dataclass
class PreparedContext:
    """A build context on disk, ready for ``docker build`` or ``az acr build``."""

    path: Path
    dockerfile: str
    context: DockerContext
    model: SentimentModel


@dataclass
class BuiltImage:
    """An image the engine built."""

    id: str
    tag: str
    size: int  # bytes
    labels: dict[str, str] = field(default_factory=dict)


# --- rendering (pure) -------------------------------------------------------------------------


def load_template() -> str:
    """Dockerfile.template: the packaged copy, or the checkout's top-level file."""
    packaged = resources.files("sentikit") / "templates" / TEMPLATE_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / TEMPLATE_NAME).read_text(encoding="utf-8")


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


# --- the serving dependencies -----------------------------------------------------------------


def serving_requirements() -> list[str]:
    """The ``serve`` extra and its dependency closure, pinned to the versions installed here.

    Pinning to what this machine runs (and tests) keeps the image reproducible; a package of the
    extra that is not installed here keeps the extra's own version range.
    """
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment: dict[str, str] = {k: str(v) for k, v in default_environment().items()} | {"extra": ""}
    roots = [Requirement(r) for r in metadata.requires("sentikit") or []]
    roots = [r for r in roots if r.marker is not None and r.marker.evaluate({**environment, "extra": "serve"})
             and not r.marker.evaluate(environment)]
    pinned: dict[str, str] = {}
    pending = deque(roots)
    while pending:
        requirement = pending.popleft()
        name = canonicalize_name(requirement.name)
        if name in pinned:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pinned[name] = f"{name}{requirement.specifier}"
            continue
        pinned[name] = f"{name}=={dist.version}"
        for raw in dist.requires or []:
            child = Requirement(raw)
            wanted = {**environment, "extra": extra} if (extra := next(iter(requirement.extras), "")) else environment
            if child.marker is None or child.marker.evaluate(wanted):
                pending.append(child)
    if not pinned:
        raise ImageBuildError("sentikit's package metadata has no 'serve' extra; reinstall sentikit (pip install -e .)")
    return [pinned[name] for name in sorted(pinned)]


def default_cache_dir() -> Path:
    """~/.cache/sentikit (or $XDG_CACHE_HOME/sentikit)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sentikit"


def build_wheelhouse(requirements: list[str], *, cache_dir: Path | None = None,
                     progress: Optional[Progress] = None) -> Path:
    """Wheels for ``requirements`` built on this host with ``pip wheel``, cached by their hash.

    Returns a directory holding the wheels and a ``requirements.txt``. The wheels suit this
    host's Python (``cp311`` here), so the base image must run the same Python minor version.
    """
    text = "\n".join(requirements) + "\n"
    key = hashlib.sha256(f"{sys.implementation.cache_tag}|{sys.platform}|{text}".encode()).hexdigest()[:16]
    target = (cache_dir or default_cache_dir()) / "wheelhouse" / key
    if (target / "requirements.txt").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"building a wheelhouse for {len(requirements)} serving packages (cached in {target})")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        (tmp / "requirements.txt").write_text(text, encoding="utf-8")
        _pip("wheel", "--quiet", "--wheel-dir", str(tmp), "--requirement", str(tmp / "requirements.txt"))
        try:
            os.rename(tmp, target)
        except OSError:  # another build filled the cache meanwhile
            if not (target / "requirements.txt").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def build_sentikit_wheel(out_dir: Path) -> Path:
    """sentikit's own wheel (``pip wheel --no-deps``), from the checkout this module runs from.

    The source is copied first, so the build neither writes into the checkout nor races a
    concurrent build. An installed (non-checkout) sentikit is re-packed from its installed files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or 'name = "sentikit"' not in (root / "pyproject.toml").read_text():
        return _repack_installed_wheel(out_dir)
    with tempfile.TemporaryDirectory(prefix="sentikit-src-") as tmp:
        source = Path(tmp) / "src-copy"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", TEMPLATE_NAME):
            if (root / name).is_file():
                shutil.copy2(root / name, source / name)
        shutil.copytree(root / "src", source / "src", ignore=ignore, symlinks=False)
        _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(out_dir), str(source))
    wheels = sorted(out_dir.glob("sentikit-*.whl"))
    if not wheels:
        raise ImageBuildError(f"pip wheel did not produce a sentikit wheel in {out_dir}")
    return wheels[-1]


def _repack_installed_wheel(out_dir: Path) -> Path:
    import base64
    import zipfile

    dist = metadata.distribution("sentikit")
    tag = "py3-none-any"
    name = f"sentikit-{dist.version}-{tag}.whl"
    dist_info = f"sentikit-{dist.version}.dist-info"
    records: list[str] = []
    with zipfile.ZipFile(out_dir / name, "w", zipfile.ZIP_DEFLATED) as wheel:
        def add(arcname: str, data: bytes) -> None:
            wheel.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{arcname},sha256={digest},{len(data)}")

        for file in dist.files or []:
            parts = file.parts
            if parts[0] == "sentikit" and "__pycache__" not in parts:
                add(str(file), Path(str(file.locate())).read_bytes())
        add(f"{dist_info}/METADATA", (dist.read_text("METADATA") or "").encode())
        add(f"{dist_info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: sentikit\nRoot-Is-Purelib: true\nTag: {tag}\n".encode())
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(records + [f"{dist_info}/RECORD,,"]) + "\n")
    return out_dir / name


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ImageBuildError(f"pip {args[0]} failed:\n{tail}")


# --- the build context ------------------------------------------------------------------------


def validate_tag(tag: str) -> str:
    """Refuse malformed image references before any expensive work."""
    if not IMAGE_REF_PATTERN.match(tag) or len(tag) > 255:
        raise InvalidInputError(
            f"invalid image tag {tag!r}: use [REGISTRY/]NAME[:TAG] with a lowercase name, e.g. sentiment:1"
        )
    return tag


def _copy_model(model: SentimentModel, target: Path) -> None:
    # Serving reads the manifest and the exported scorer; the joblib pipeline (and with it
    # scikit-learn) stays out of the image.
    scorer = model.path / SCORER_FILE
    if not scorer.is_file():
        raise ModelIntegrityError(
            f"{model.path} has no {SCORER_FILE} (the exported scorer the image serves); "
            "retrain it with this version of sentikit"
        )
    verify_model_dir(model.path, need=(SCORER_FILE,))  # what goes into the image is what was registered
    target.mkdir(parents=True)
    for name in (MANIFEST_FILE, SCORER_FILE):
        shutil.copyfile(model.path / name, target / name)


def prepare_context(
    model: SentimentModel,
    out_dir: Path,
    *,
    base_image: str = "python:3.11-slim",
    port: int = DEFAULT_PORT,
    wheelhouse: Path | None = None,
    from_pypi: bool = False,
    extra_labels: Mapping[str, str] | None = None,
    template: str | None = None,
    cache_dir: Path | None = None,
    progress: Optional[Progress] = None,
) -> PreparedContext:
    """Write a complete build context for ``model`` into ``out_dir`` (created; must be empty).

    Dependencies come from ``wheelhouse`` (a directory of wheels, optionally with a
    requirements.txt), else from a host-built cached wheelhouse, or, with ``from_pypi``,
    from the package index during the build.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InvalidInputError(f"{out_dir} is not empty; choose a new directory for the build context")
    if wheelhouse is not None and from_pypi:
        raise InvalidInputError("--wheelhouse and --from-pypi exclude each other")
    if wheelhouse is not None and not any(Path(wheelhouse).glob("*.whl")):
        raise InvalidInputError(f"{wheelhouse} holds no .whl files")
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"invalid port {port}: use 1-65535")
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_model(model, out_dir / "model")

    requirements = serving_requirements()
    host_ca = False
    if from_pypi:
        (out_dir / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        # A host behind a TLS-intercepting proxy trusts extra CAs that the base image lacks.
        host_ca = HOST_CA_BUNDLE.is_file() and any(HOST_EXTRA_CAS.glob("*.crt"))
        if host_ca:
            shutil.copyfile(HOST_CA_BUNDLE, out_dir / "host-ca.pem")
    else:
        source = Path(wheelhouse) if wheelhouse is not None else build_wheelhouse(
            requirements, cache_dir=cache_dir, progress=progress)
        target = out_dir / "wheelhouse"
        target.mkdir()
        for wheel in sorted(source.glob("*.whl")):
            shutil.copyfile(wheel, target / wheel.name)
        given = source / "requirements.txt"
        if given.is_file():
            shutil.copyfile(given, target / "requirements.txt")
        else:  # a user's wheelhouse: let pip pick any compatible version it holds
            names = [re.split(r"[=<>!~ ;\[]", r, maxsplit=1)[0] for r in requirements]
            (target / "requirements.txt").write_text("\n".join(names) + "\n", encoding="utf-8")

    if progress:
        progress("building the sentikit wheel")
    build_sentikit_wheel(out_dir / "dist")
    context = DockerContext(
        base_image=base_image,
        labels=image_labels(model, base_image=base_image, port=port, extra=extra_labels),
        port=port,
        dependencies="pypi" if from_pypi else "wheelhouse",
        host_ca=host_ca,
    )
    dockerfile = render_dockerfile(template if template is not None else load_template(), context)
    (out_dir / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (out_dir / ".dockerignore").write_text(DOCKERIGNORE, encoding="utf-8")
    return PreparedContext(path=out_dir, dockerfile=dockerfile, context=context, model=model)


# --- building ---------------------------------------------------------------------------------


def docker_client() -> Any:
    """A connected Docker SDK client, or :class:`DockerUnavailableError` saying how to start an engine."""
    try:
        import docker

        client = docker.from_env(timeout=300)
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


def require_base_image(client: Any, base_image: str) -> None:
    """Fail unless ``base_image`` is in the engine: builds never pull."""
    import docker

    try:
        client.images.get(base_image)
    except docker.errors.ImageNotFound:
        raise ImageBuildError(
            f"base image {base_image} is not present in the Docker engine, and sentikit never pulls during "
            f"a build. Get it with `docker pull {base_image}` (or, offline, build a stand-in with "
            "`sudo bash scripts/setup-test-env.sh`), or choose another one with --base-image"
        ) from None
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"the Docker engine failed: {exc.explanation or exc}") from None


_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


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
    to get it). Build errors arrive inside the log stream and leave as :class:`ImageBuildError`
    naming the failing step and its last log lines.
    """
    import docker

    validate_tag(tag)
    client = client or docker_client()
    require_base_image(client, prepared.context.base_image)
    step = "(before the first step)"
    recent: deque[str] = deque(maxlen=15)
    image_id: str | None = None
    try:
        stream = client.api.build(path=str(prepared.path), tag=tag, rm=True, forcerm=True, decode=True,
                                  nocache=no_cache, platform=platform, pull=False)
        for chunk in stream:
            if "error" in chunk:
                detail = "\n".join(line for line in recent if line.strip())
                raise ImageBuildError(
                    f"image build failed at {step}: {chunk['error'].strip()}"
                    + (f"\nlast log lines:\n{detail}" if detail else "")
                    + _hint(chunk["error"], detail)
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
                image_id = aux["ID"]
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"the Docker engine refused the build: {exc.explanation or exc}") from None
    except docker.errors.DockerException as exc:
        raise ImageBuildError(f"the Docker engine failed during the build: {exc}") from None
    try:
        image = client.images.get(image_id or tag)
        for extra in extra_tags:
            repository, _, version = extra.rpartition(":")
            if not repository or "/" in version:  # no tag, or the colon belonged to a registry port
                repository, version = extra, "latest"
            image.tag(repository, tag=version)
    except docker.errors.ImageNotFound:
        raise ImageBuildError(f"the build finished but image {tag} is not in the engine") from None
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"the Docker engine could not tag the image: {exc.explanation or exc}") from None
    return BuiltImage(id=image.id, tag=tag, size=int(image.attrs.get("Size", 0)),
                      labels=dict(image.labels or {}))


def _hint(error: str, log: str) -> str:
    text = f"{error}\n{log}"
    if "No matching distribution" in text or "is not a supported wheel" in text:
        return (f"\nhint: the wheelhouse was built for this host's Python ({sys.version.split()[0]}); "
                "the base image must run the same Python minor version, or pass --wheelhouse with "
                "wheels for it, or --from-pypi")
    if "Could not find a version" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return "\nhint: the build could not reach the package index; build offline (without --from-pypi)"
    return ""


def build(
    model: SentimentModel,
    *,
    tag: str,
    base_image: str = "python:3.11-slim",
    port: int = DEFAULT_PORT,
    wheelhouse: Path | None = None,
    from_pypi: bool = False,
    no_cache: bool = False,
    platform: str | None = None,
    progress: Optional[Progress] = None,
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
                                   wheelhouse=wheelhouse, from_pypi=from_pypi, progress=progress)
        if progress:
            progress(f"building {tag} from {base_image}")
        return build_image(prepared, tag=tag, no_cache=no_cache, platform=platform, on_log=on_log, client=client,
                           extra_tags=extra_tags)
