"""The image command: build."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Callable, Iterator, Optional

import typer

from . import render as output
from .render import escape
from ..model import resolve_model
from .app import JsonOption, ModelArgument, ModelFlag, WorkspaceOption, app, pick_model, settings


@app.command()
def build(
    model: ModelArgument = None,
    model_flag: ModelFlag = None,
    tag: Annotated[Optional[str], typer.Option("--tag", "-t", help="Image tag \\[default: IMAGE:MODEL_VERSION and IMAGE:latest, e.g. sentikit-sentiment:1].")] = None,
    base_image: Annotated[Optional[str], typer.Option("--base-image", help="Base image; must be present locally \\[default: python:3.11-slim].")] = None,
    render_only: Annotated[Optional[Path], typer.Option("--render-only", help="Only write the Dockerfile and build context to this new directory (e.g. for `az acr build`).")] = None,
    wheelhouse: Annotated[Optional[Path], typer.Option("--wheelhouse", help="Install the serving dependencies from these wheels \\[default: a cached wheelhouse built on this host].")] = None,
    from_pypi: Annotated[bool, typer.Option("--from-pypi", help="Install the serving dependencies from the package index during the build.")] = False,
    postgres: Annotated[bool, typer.Option("--postgres", help="Also install psycopg 3 (the postgres extra, ~13 MB), for `deploy --monitor --store-url postgresql://...`.")] = False,
    port: Annotated[Optional[int], typer.Option("--port", "-p", help="Port the server listens on in the container \\[default: 8000].")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not reuse cached build layers.")] = False,
    platform: Annotated[Optional[str], typer.Option("--platform", help="Target platform, e.g. linux/amd64.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build a Docker image that serves a model (Dockerfile.template, Docker SDK).

    The image holds only the server, the model's scorer and its manifest; it runs as a non-root user, listens on 0.0.0.0 and has a HEALTHCHECK on /healthz.

    Example:
        sentikit build sentiment:1 --tag sentiment:1
        sentikit build sentiment:1 --postgres   # for a desk whose store is PostgreSQL
    """
    from ..image import build as build_image_for, prepare_context

    s = settings(workspace=workspace, base_image=base_image, container_port=port)
    loaded = resolve_model(pick_model(model, model_flag), Path(s.workspace), s.model_name)
    if render_only is not None:
        prepared = prepare_context(loaded, render_only, base_image=s.base_image, port=s.container_port,
                                   wheelhouse=wheelhouse, from_pypi=from_pypi, postgres=postgres,
                                   progress=None if as_json else _say)
        if as_json:
            output.emit_json({"context": str(prepared.path), "dockerfile": str(prepared.path / "Dockerfile"),
                              "labels": dict(prepared.context.labels), "postgres": postgres})
            return
        output.console.print(f"wrote the build context to {prepared.path}; build it with e.g.\n"
                             f"  docker build -t {tag or _default_tag(s.image, loaded.version)} {prepared.path}\n"
                             f"  az acr build --registry REGISTRY --image {tag or _default_tag(s.image, loaded.version)} {prepared.path}",
                             soft_wrap=True)
        print(prepared.path)
        return
    with _build_display(quiet=as_json) as (say, on_log):
        image = build_image_for(loaded, tag=tag or _default_tag(s.image, loaded.version), base_image=s.base_image,
                                port=s.container_port, wheelhouse=wheelhouse, from_pypi=from_pypi,
                                postgres=postgres, no_cache=no_cache, platform=platform, progress=say, on_log=on_log,
                                # Untagged builds also move IMAGE:latest, what `deploy --target local` runs.
                                extra_tags=() if tag else (f"{s.image}:latest",))
    if as_json:
        output.emit_json(image)
        return
    output.console.print(f"[bold green]built[/] {image.tag} for model {loaded.reference}")
    sys.stdout.write(f"image\t{image.id}\ntag\t{image.tag}\nsize\t{image.size / 1e6:.1f} MB\n")


def _default_tag(image: str, version: int) -> str:
    return f"{image}:{version}"


def _say(message: str) -> None:
    output.console.print(message, soft_wrap=True, markup=False)


@contextmanager
def _build_display(*, quiet: bool) -> Iterator[tuple[Optional[Callable[[str], None]], Callable[[str], None]]]:
    """Progress: step lines (and a spinner with the latest log line on a terminal); nothing when quiet."""
    if quiet:
        yield None, lambda line: None
        return
    with output.status("preparing the build context") as update:
        def on_log(line: str) -> None:
            if line.startswith("Step "):
                output.console.print(line, soft_wrap=True, markup=False)
            update(escape(line[:100]))

        def say(message: str) -> None:
            _say(message)
            update(escape(message))

        yield say, on_log

