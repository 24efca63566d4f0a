"""Dockerfile rendering (pure) and the build context; no Docker engine needed."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sentikit.image import (
    DockerContext,
    build_sentikit_wheel,
    image_labels,
    load_template,
    prepare_context,
    render_dockerfile,
    serving_requirements,
    validate_tag,
)
from sentikit.errors import InvalidInputError, ModelIntegrityError
from sentikit.model import load_model

REPO = Path(__file__).resolve().parents[2]

EXPECTED = r'''# Rendered by `sentikit build` from sentikit's Dockerfile.template.
# Stage "deps": the serving dependencies in a venv (cached while they do not change).
# Stage "app": sentikit's own wheel without dependencies; pip and setuptools removed.
# Final stage: the base image plus that venv and the model, run as a non-root user who owns /data
# (where the desk, `SENTIKIT_MONITOR=1`, keeps its SQLite store; mount a volume there to keep it).

FROM registry.example/python:3.11-slim AS deps
LABEL sentikit.stage=deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY wheelhouse/ /wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --no-index --find-links /wheels --requirement /wheels/requirements.txt

FROM deps AS app
COPY dist/ /tmp/dist/
RUN /opt/venv/bin/python -m pip install --no-index --no-deps /tmp/dist/*.whl \
 && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools \
 && rm -rf /tmp/dist

FROM registry.example/python:3.11-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app --shell /usr/sbin/nologin sentikit \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=app /opt/venv /opt/venv
COPY model/ /app/model/
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SENTIKIT_MODEL_PATH=/app/model \
    SENTIKIT_SERVER_HOST=0.0.0.0 \
    SENTIKIT_SERVER_PORT=9000 \
    SENTIKIT_MONITOR_STORE=/data/monitor.db
USER 10001:10001
EXPOSE 9000
# Over HTTPS when a certificate is configured; loopback, so the probe need not verify it.
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request; tls = bool(os.environ.get('SENTIKIT_SERVER_TLS_CERT')); urllib.request.urlopen(('https' if tls else 'http') + '://127.0.0.1:' + os.environ['SENTIKIT_SERVER_PORT'] + '/healthz', timeout=2, context=ssl._create_unverified_context() if tls else None)"]
ENTRYPOINT ["python", "-m", "sentikit.server"]
LABEL io.sentikit.model.metrics="{\"accuracy\":0.9}" \
      org.opencontainers.image.title="say \"hi\" to \$HOME"
'''


def test_render_matches_character_for_character() -> None:
    context = DockerContext(
        base_image="registry.example/python:3.11-slim",
        labels={"org.opencontainers.image.title": 'say "hi" to $HOME', "io.sentikit.model.metrics": '{"accuracy":0.9}'},
        port=9000,
    )
    assert render_dockerfile(load_template(), context) == EXPECTED


def test_render_pypi_with_host_ca_keeps_the_ca_in_the_deps_stage() -> None:
    context = DockerContext(base_image="b", labels={}, dependencies="pypi", host_ca=True)
    assert render_dockerfile("FROM {{ base_image }}\n{{ install_dependencies }}\n{{labels}}", context) == (
        "FROM b\n"
        "COPY requirements.txt host-ca.pem /tmp/\n"
        "RUN python3 -m venv /opt/venv \\\n"
        " && PIP_CERT=/tmp/host-ca.pem /opt/venv/bin/python -m pip install --requirement /tmp/requirements.txt\n"
    )


def test_render_refuses_unknown_fields() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown field \{\{ model_sha \}\}"):
        render_dockerfile("FROM {{ model_sha }}", DockerContext(base_image="b", labels={}))


def test_top_level_template_is_a_link_to_the_packaged_one() -> None:
    """One file to edit: the checkout's Dockerfile.template links to the copy the package ships."""
    top = REPO / "Dockerfile.template"
    assert top.is_symlink()
    assert top.resolve() == (REPO / "src/sentikit/image/templates/Dockerfile.template").resolve()
    assert load_template() == top.read_text(encoding="utf-8")


def test_serving_requirements_are_pinned_and_exclude_cli_dependencies() -> None:
    requirements = serving_requirements()
    names = {r.split("==")[0] for r in requirements}
    assert {"starlette", "uvicorn"} <= names
    assert all("==" in r for r in requirements)
    assert not names & {"scikit-learn", "scipy", "numpy", "joblib", "typer", "rich", "docker", "azure-identity",
                        "matplotlib"}


def _checkout_copy(root: Path, extra_serve: str) -> Path:
    """A copy of this checkout (without the corpus) whose pyproject adds ``extra_serve`` to the serve extra."""
    import shutil

    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "corpus.tsv.gz"))
    shutil.copy2(REPO / "README.md", root / "README.md")
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    marker = "serve = [\n"
    assert marker in pyproject
    (root / "pyproject.toml").write_text(pyproject.replace(marker, f"{marker}    {extra_serve!r},\n", 1), encoding="utf-8")
    return root


def _serving_requirements_of(pythonpath: str) -> list[str]:
    import os
    import subprocess
    import sys

    code = "import json; from sentikit.image.context import serving_requirements; print(json.dumps(serving_requirements()))"
    env = {**os.environ, "PYTHONPATH": pythonpath}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_serving_requirements_follow_the_checkouts_pyproject_not_the_installed_metadata(tmp_path: Path) -> None:
    from importlib import metadata

    installed = metadata.requires("sentikit") or []
    assert not any(r.startswith("packaging") and "serve" in r for r in installed)  # what a stale install says
    checkout = _checkout_copy(tmp_path / "checkout", "packaging>=23")
    requirements = _serving_requirements_of(str(checkout / "src"))
    assert f"packaging=={metadata.version('packaging')}" in requirements
    assert {"starlette", "uvicorn"} <= {r.split("==")[0] for r in requirements}


@pytest.mark.slow
def test_serving_requirements_of_a_wheel_install_come_from_its_own_metadata(tmp_path: Path) -> None:
    import subprocess
    import sys
    from importlib import metadata

    checkout = _checkout_copy(tmp_path / "checkout", "packaging>=23")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(checkout)],
                   check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("sentikit-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True, timeout=300)
    # a stale sentikit dist-info earlier on the path, as an old install leaves behind
    stale = tmp_path / "stale" / "sentikit-0.0.1.dist-info"
    stale.mkdir(parents=True)
    (stale / "METADATA").write_text("Metadata-Version: 2.1\nName: sentikit\nVersion: 0.0.1\n"
                                    "Provides-Extra: serve\nRequires-Dist: starlette; extra == \"serve\"\n")
    requirements = _serving_requirements_of(f"{stale.parent}:{target}")
    assert f"packaging=={metadata.version('packaging')}" in requirements
    assert {"starlette", "uvicorn"} <= {r.split("==")[0] for r in requirements}


@pytest.mark.parametrize("tag", ["sentiment:1", "127.0.0.1:5000/team/sentiment:v1.2", "myacr.azurecr.io/s"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["Sentiment:1", "sentiment:", "a b", ":1", "sentiment:-x"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid image reference|invalid tag"):
        validate_tag(tag)


def test_labels_carry_oci_metadata_and_the_model(trained_model: Any) -> None:
    labels = image_labels(trained_model, base_image="python:3.11-slim")
    assert labels["io.sentikit.model.name"] == "sentiment"
    assert labels["io.sentikit.model.version"] == str(trained_model.version)
    assert labels["io.sentikit.model.checksum"] == f"sha256:{trained_model.checksum}"
    assert json.loads(labels["io.sentikit.model.metrics"]) == trained_model.metrics
    assert labels["org.opencontainers.image.created"] == trained_model.manifest["created"]
    assert labels["org.opencontainers.image.base.name"] == "python:3.11-slim"


def test_sentikit_wheel_contains_the_template(tmp_path: Path) -> None:
    wheel = build_sentikit_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "sentikit/server/__main__.py" in names
        info = archive.getinfo("sentikit/image/templates/Dockerfile.template")
        template = archive.read(info).decode()
    assert not stat.S_ISLNK(info.external_attr >> 16)  # the real file, not a link into a checkout
    assert template == load_template() and "{{ base_image }}" in template


def test_prepare_context_writes_a_complete_offline_context(trained_model_dir: Path, tmp_path: Path) -> None:
    prepared = prepare_context(load_model(trained_model_dir), tmp_path / "ctx", base_image="python:3.11-slim")
    files = sorted(str(p.relative_to(prepared.path)) for p in prepared.path.rglob("*") if p.is_file())
    assert "Dockerfile" in files and ".dockerignore" in files
    assert [f for f in files if f.startswith("model/")] == ["model/manifest.json", "model/scorer.json"]
    assert [f for f in files if f.startswith("dist/")] == ["dist/sentikit-0.1.0-py3-none-any.whl"]
    requirements = (prepared.path / "wheelhouse" / "requirements.txt").read_text().split()
    assert requirements == serving_requirements()
    wheels = {f.split("/")[1].split("-")[0].lower().replace("_", "-") for f in files if f.endswith(".whl")
              and f.startswith("wheelhouse/")}
    assert wheels == {r.split("==")[0] for r in requirements}
    assert (prepared.path / "Dockerfile").read_text() == prepared.dockerfile


def test_prepare_context_refuses_a_model_without_exported_scorer(trained_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    for name in ("manifest.json", "pipeline.joblib"):
        (broken / name).write_bytes((trained_model_dir / name).read_bytes())
    with pytest.raises(ModelIntegrityError, match="scorer.json is missing"):  # refused when loaded, before packaging
        prepare_context(load_model(broken), tmp_path / "ctx")
    assert not (tmp_path / "ctx").exists()


def test_cli_render_only_writes_the_context(cli: Any, trained_model_dir: Path, tmp_path: Path) -> None:
    result = cli("build", str(trained_model_dir), "--render-only", str(tmp_path / "ctx"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["dockerfile"] == str(tmp_path / "ctx" / "Dockerfile")
    assert result.json["labels"]["io.sentikit.model.name"] == "sentiment"
    assert (tmp_path / "ctx" / "Dockerfile").read_text().startswith("# Rendered by `sentikit build`")


def test_cli_render_only_postgres_adds_psycopg_pinned_and_the_label(cli: Any, trained_model_dir: Path,
                                                                     tmp_path: Path) -> None:
    from importlib import metadata

    from sentikit.image.context import wheelhouse_dir

    result = cli("build", str(trained_model_dir), "--render-only", str(tmp_path / "ctx"), "--postgres", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["postgres"] is True and result.json["labels"]["io.sentikit.desk.postgres"] == "true"
    assert "LABEL " in (tmp_path / "ctx" / "Dockerfile").read_text() and \
        'io.sentikit.desk.postgres="true"' in (tmp_path / "ctx" / "Dockerfile").read_text()
    requirements = (tmp_path / "ctx" / "wheelhouse" / "requirements.txt").read_text().split()
    version = metadata.version("psycopg")
    assert f"psycopg=={version}" in requirements and f"psycopg-binary=={metadata.version('psycopg-binary')}" in requirements
    assert requirements == serving_requirements(("serve", "postgres"))
    assert sorted(set(requirements) - set(serving_requirements())) == sorted(
        r for r in requirements if r.startswith("psycopg"))  # the serve closure plus psycopg, nothing dropped
    assert any(w.name.startswith("psycopg_binary-") for w in (tmp_path / "ctx" / "wheelhouse").glob("*.whl"))
    # its own wheelhouse in the cache: the default image's is keyed on a different set
    assert wheelhouse_dir(requirements) != wheelhouse_dir(serving_requirements())
    assert (wheelhouse_dir(requirements) / "requirements.txt").read_text().split() == requirements

    plain = cli("build", str(trained_model_dir), "--render-only", str(tmp_path / "plain"), "--from-pypi", "--json")
    assert plain.json["postgres"] is False and "io.sentikit.desk.postgres" not in plain.json["labels"]
    assert not [r for r in (tmp_path / "plain" / "requirements.txt").read_text().split() if r.startswith("psycopg")]


def test_cli_bad_model_path_is_a_user_error(cli: Any, tmp_path: Path) -> None:
    result = cli("build", str(tmp_path / "no-such-model"), "--tag", "x:1")
    assert result.exit_code == 2
    assert "no-such-model is not a sentikit model directory" in result.stderr


def test_serving_wheel_leaves_the_training_corpus_out(tmp_path: Path) -> None:
    from sentikit.image.context import SERVING_EXCLUDES, build_sentikit_wheel

    wheel = build_sentikit_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert "sentikit/server/app.py" in names and "sentikit/engine/scorer.py" in names
    assert not names & SERVING_EXCLUDES
    assert not any(line.split(",", 1)[0] in SERVING_EXCLUDES for line in record.splitlines())
