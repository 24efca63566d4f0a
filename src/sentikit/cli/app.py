"""The Typer application object, the consoles, and settings resolution for commands."""

from __future__ import annotations

from typing import Any

import typer

from ..config import Settings, load_settings
from .options import JsonOption, ModelArgument, ModelFlag, WorkspaceOption, pick_model
from .render import console as err_console

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


# The shared options are defined in .options; the command modules import them from either place.
__all__ = ["app", "err_console", "settings", "pick_model", "JsonOption", "WorkspaceOption", "ModelArgument", "ModelFlag"]
