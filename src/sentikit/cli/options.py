"""Options and arguments shared by several commands, spelled once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import InvalidInputError

JsonOption = Annotated[bool, typer.Option("--json", help="Write one JSON document to stdout.")]
WorkspaceOption = Annotated[
    Optional[str], typer.Option("--workspace", "-w", help="Model workspace directory \\[default: ./models].")
]
ModelArgument = Annotated[
    Optional[str],
    typer.Argument(help="Model: a directory, NAME, NAME:VERSION, models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH, "
                  "or nothing for the latest default model."),
]
# serve, build and monitor take the model as an argument; --model (as score/evaluate/explain spell it) works too.
ModelFlag = Annotated[Optional[str], typer.Option("--model", "-m", help="The same as the MODEL argument.")]
# score, evaluate and explain take the model as an option only.
ModelOption = Annotated[
    Optional[str], typer.Option("--model", "-m", help="Model: directory, NAME, NAME:VERSION or models:/NAME/VERSION (MLflow) \\[default: latest].")
]
ThresholdOption = Annotated[
    Optional[float], typer.Option("--threshold", "-t", help="Scores at or above this are labelled positive \\[default: 0.5].")
]
TextColumnOption = Annotated[Optional[str], typer.Option("--text-column", help="Column holding the text \\[default: auto].")]
LabelColumnOption = Annotated[
    Optional[str], typer.Option("--label-column", help="Column holding the label \\[default: auto].")
]
NegativeMaxOption = Annotated[
    Optional[float], typer.Option("--negative-max", help="Ratings at or below this are negative (e.g. 2 for 1-5 stars).")
]
PositiveMinOption = Annotated[
    Optional[float], typer.Option("--positive-min", help="Ratings at or above this are positive (e.g. 4 for 1-5 stars).")
]


def pick_model(argument: Optional[str], flag: Optional[str]) -> Optional[str]:
    """The model named by the MODEL argument or by --model (not two different ones)."""
    if argument and flag and argument != flag:
        raise InvalidInputError(f"two models given: '{argument}' and --model '{flag}'; name one")
    return argument or flag
