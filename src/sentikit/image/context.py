"""The build context: the serving dependencies' closure, a cached wheelhouse, sentikit's own
wheel (built from the checkout, or re-packed from an installed sentikit), and their assembly
with the model and the rendered Dockerfile into a directory that ``docker build`` and
``az acr build`` both accept (``sentikit build --render-only``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from ..data.sources import CORPUS_FILE
from .dockerfile import POSTGRES_LABEL
from ..errors import ImageBuildError, InvalidInputError, ModelIntegrityError
from ..model import MANIFEST_FILE, SCORER_FILE, SentimentModel, verify_model_dir
from .dockerfile import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_PORT,
    DOCKERIGNORE,
    DockerContext,
    image_labels,
    load_template,
    render_dockerfile,
)

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
# src/sentikit/image/context.py -> the checkout root (when running from one)
CHECKOUT_ROOT = Path(__file__).resolve().parents[3]

Progress = Callable[[str], None]


@dataclass
class PreparedContext:
    """A build context on disk, ready for ``docker build`` or ``az acr build``."""

    path: Path
    dockerfile: str
    context: DockerContext
    model: SentimentModel


def _checkout_pyproject() -> Optional[Path]:
    """The pyproject.toml of the checkout this module runs from, or ``None`` (an installed wheel)."""
    path = CHECKOUT_ROOT / "pyproject.toml"
    return path if path.is_file() and 'name = "sentikit"' in path.read_text(encoding="utf-8") else None


SERVE_EXTRA = "serve"
POSTGRES_EXTRA = "postgres"  # psycopg 3, for a desk whose store is PostgreSQL (`sentikit build --postgres`)


def declared_extra_requirements(extra: str) -> list[str]:
    """The extra ``extra`` as the project declares it: the checkout's pyproject.toml when running
    from one (an editable install's metadata is as old as its last ``pip install -e``), else the
    METADATA of the wheel this very package was installed from."""
    pyproject = _checkout_pyproject()
    if pyproject is not None:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        declared = project.get("optional-dependencies", {}).get(extra)
        if not declared:
            raise ImageBuildError(f"{pyproject} declares no '{extra}' extra")
        return [str(r) for r in declared]
    from packaging.requirements import Requirement

    package = Path(__file__).resolve().parents[1]
    own = sorted(package.parent.glob("sentikit-*.dist-info"))
    dist = metadata.PathDistribution(own[-1]) if own else metadata.distribution("sentikit")
    found: list[str] = []
    for raw in dist.requires or []:
        requirement = Requirement(raw)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}) \
                and not requirement.marker.evaluate({"extra": ""}):
            found.append(raw)
    if not found:
        raise ImageBuildError(f"sentikit's package metadata has no '{extra}' extra; reinstall sentikit")
    return found


def declared_serve_requirements() -> list[str]:
    """The ``serve`` extra as the project declares it (:func:`declared_extra_requirements`)."""
    return declared_extra_requirements(SERVE_EXTRA)


def serving_requirements(extras: Sequence[str] = (SERVE_EXTRA,)) -> list[str]:
    """sentikit's ``extras`` (:func:`declared_extra_requirements`; the ``serve`` extra by default)
    and their dependency closure, pinned to the versions installed here.

    Pinning to what this machine runs (and tests) keeps the image reproducible; a package of an
    extra that is not installed here keeps the extra's own version range.
    """
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment: dict[str, str] = {k: str(v) for k, v in default_environment().items()} | {"extra": ""}
    roots = [root for extra in dict.fromkeys(extras)
             for root in (Requirement(r) for r in declared_extra_requirements(extra))
             if root.marker is None or root.marker.evaluate({**environment, "extra": extra})]
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
    return [pinned[name] for name in sorted(pinned)]


def default_cache_dir() -> Path:
    """~/.cache/sentikit (or $XDG_CACHE_HOME/sentikit)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sentikit"


def wheelhouse_dir(requirements: list[str], *, cache_dir: Path | None = None) -> Path:
    """Where :func:`build_wheelhouse` caches the wheels of ``requirements``: keyed on the pinned set
    (``--postgres`` adds psycopg, so it gets its own) and this host's Python and platform."""
    text = "\n".join(requirements) + "\n"
    key = hashlib.sha256(f"{sys.implementation.cache_tag}|{sys.platform}|{text}".encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "wheelhouse" / key


def build_wheelhouse(requirements: list[str], *, cache_dir: Path | None = None,
                     progress: Optional[Progress] = None) -> Path:
    """Wheels for ``requirements`` built on this host with ``pip wheel``, cached by their hash.

    Returns a directory holding the wheels and a ``requirements.txt``. The wheels suit this
    host's Python (``cp311`` here), so the base image must run the same Python minor version.
    """
    text = "\n".join(requirements) + "\n"
    target = wheelhouse_dir(requirements, cache_dir=cache_dir)
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


# Package files the serving image never reads: only `train` and `adapt` use the bundled corpus.
SERVING_EXCLUDES = frozenset({f"sentikit/resources/{CORPUS_FILE}"})


def build_sentikit_wheel(out_dir: Path) -> Path:
    """sentikit's own wheel (``pip wheel --no-deps``), from the checkout this module runs from.

    The source is copied first, so the build neither writes into the checkout nor races a
    concurrent build. An installed (non-checkout) sentikit is re-packed from its installed files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    root = CHECKOUT_ROOT
    if _checkout_pyproject() is None:
        return _repack_installed_wheel(out_dir)
    with tempfile.TemporaryDirectory(prefix="sentikit-src-") as tmp:
        source = Path(tmp) / "src-copy"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, source / name)
        shutil.copytree(root / "src", source / "src", ignore=ignore, symlinks=False)
        _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(out_dir), str(source))
    wheels = sorted(out_dir.glob("sentikit-*.whl"))
    if not wheels:
        raise ImageBuildError(f"pip wheel did not produce a sentikit wheel in {out_dir}")
    return _without_training_files(wheels[-1])


def _without_training_files(wheel_path: Path) -> Path:
    """Rewrite ``wheel_path`` without the files only training reads (the 3.7 MB corpus).

    The server never trains, so the image need not carry them; RECORD is rewritten to match.
    """
    with zipfile.ZipFile(wheel_path) as wheel:
        entries = wheel.infolist()
        kept = [(info, wheel.read(info)) for info in entries if info.filename not in SERVING_EXCLUDES]
    if len(kept) == len(entries):
        return wheel_path
    tmp = wheel_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as wheel:
        for info, data in kept:
            if info.filename.endswith(".dist-info/RECORD"):
                lines = [line for line in data.decode().splitlines()
                         if line.split(",", 1)[0] not in SERVING_EXCLUDES]
                data = ("\n".join(lines) + "\n").encode()
            wheel.writestr(info, data)
    os.replace(tmp, wheel_path)
    return wheel_path


def _repack_installed_wheel(out_dir: Path) -> Path:
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
    return _without_training_files(out_dir / name)


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ImageBuildError(f"pip {args[0]} failed:\n{tail}")


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
    base_image: str = DEFAULT_BASE_IMAGE,
    port: int = DEFAULT_PORT,
    wheelhouse: Path | None = None,
    from_pypi: bool = False,
    extra_labels: Mapping[str, str] | None = None,
    postgres: bool = False,
    template: str | None = None,
    cache_dir: Path | None = None,
    progress: Optional[Progress] = None,
) -> PreparedContext:
    """Write a complete build context for ``model`` into ``out_dir`` (created; must be empty).

    Dependencies come from ``wheelhouse`` (a directory of wheels, optionally with a
    requirements.txt), else from a host-built cached wheelhouse, or, with ``from_pypi``,
    from the package index during the build. ``postgres`` adds the ``postgres`` extra (psycopg 3,
    for a desk whose store is PostgreSQL) and labels the image ``io.sentikit.desk.postgres=true``.
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

    requirements = serving_requirements((SERVE_EXTRA, POSTGRES_EXTRA) if postgres else (SERVE_EXTRA,))
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
        labels=image_labels(model, base_image=base_image, port=port,
                            extra={**({POSTGRES_LABEL: "true"} if postgres else {}), **(extra_labels or {})}),
        port=port,
        dependencies="pypi" if from_pypi else "wheelhouse",
        host_ca=host_ca,
    )
    dockerfile = render_dockerfile(template if template is not None else load_template(), context)
    (out_dir / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (out_dir / ".dockerignore").write_text(DOCKERIGNORE, encoding="utf-8")
    return PreparedContext(path=out_dir, dockerfile=dockerfile, context=context, model=model)


