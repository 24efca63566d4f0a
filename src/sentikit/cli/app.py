"""The Typer application object, shared options, and settings resolution for commands."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..config import Settings, load_settings
from ..errors import InvalidInputError
from ..output import console as err_console

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

JsonOption = Annotated[bool, typer.Option("--json", help="Write one JSON document to stdout.")]
WorkspaceOption = Annotated[
    Optional[str], typer.Option("--workspace", "-w", help="Model workspace directory \\[default: ./models].")
]
ModelArgument = Annotated[
    Optional[str],
    typer.Argument(help="Model: a directory, NAME, NAME:VERSION, or nothing for the latest default model."),
]

# serve, build and monitor take the model as an argument; --model (as score/evaluate/explain spell it) works too.
ModelFlag = Annotated[Optional[str], typer.Option("--model", "-m", help="The same as the MODEL argument.")]


def pick_model(argument: Optional[str], flag: Optional[str]) -> Optional[str]:
    """The model named by the MODEL argument or by --model (not two different ones)."""
    if argument and flag and argument != flag:
        raise InvalidInputError(f"two models given: '{argument}' and --model '{flag}'; name one")
    return argument or flag


def settings(**flags: Any) -> Settings:
    """Resolve settings for a command: its flags (None = not given) > env > file > defaults."""
    return load_settings(flags)


__all__ = ["app", "err_console", "settings", "pick_model", "JsonOption", "WorkspaceOption", "ModelArgument", "ModelFlag"]
