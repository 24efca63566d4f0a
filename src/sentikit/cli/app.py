"""The Typer application object, the consoles, and settings resolution for commands."""

from __future__ import annotations

from typing import Any, Optional

import typer

from ..config import Settings, load_settings
from ..errors import InvalidInputError
from .options import JsonOption, ModelArgument, ModelFlag, WorkspaceOption, pick_model

app = typer.Typer(
    name="sentikit",
    help="Train, evaluate, score, serve, containerise and deploy a sentiment model.\n\n"
    "Scores run from 0.0 (negative) to 1.0 (positive).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,  # locals may hold keys and tokens
    add_completion=False,
    rich_markup_mode="rich",
)


def settings(**flags: Any) -> Settings:
    """Resolve settings for a command: its flags (None = not given) > env > file > defaults."""
    return load_settings(flags)


# Up to this many texts, a local model scores by binary search rather than build its vocabulary
# dicts first (engine.SortedTerms): ~45 ms less to load, ~0.1 ms more per text (bench/README.md).
FEW_TEXTS = 100


def scorer_for(model: Optional[str], url: Optional[str], s: Settings, *, texts: int | None = None) -> Any:
    """What scores for ``score`` and ``monitor``: a running server (``--url``) or a local model, not
    both. ``texts``: how many will be scored, when known; a few load the model progressively."""
    if url:
        if model:
            raise InvalidInputError("give a MODEL or --url, not both")
        from ..config import read_api_key
        from ..remote import RemoteScorer

        return RemoteScorer(url, api_key=read_api_key())
    from ..model import resolve_model

    loaded = resolve_model(model, s.workspace_path, s.model_name)
    if texts is not None and texts <= FEW_TEXTS:
        loaded.load_scorer(progressive=True)
    return loaded


# The shared options are defined in .options; the command modules import them from either place.
__all__ = ["app", "settings", "scorer_for", "pick_model", "JsonOption", "WorkspaceOption", "ModelArgument", "ModelFlag"]
