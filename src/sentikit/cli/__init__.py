"""The ``sentikit`` command line: a thin layer that parses, calls the library, and renders.

Each submodule registers its commands on :data:`sentikit.cli.app.app`; :func:`main`
is the console-script entry point and the single place where errors become
messages and exit codes.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import warnings
from typing import Sequence

import typer

from ..config import DEBUG_ENV_VAR
from ..errors import ExitCode, SentikitError, error_message, exit_code_for
from . import render
from .app import app

# Importing the command modules registers their commands on `app`.
from . import cloud, image, local, monitor, serve  # noqa: E402,F401
from . import adapt  # noqa: E402,F401  (label, adapt: issue 12)

# `sentikit --help` lists the commands by pipeline stage, in pipeline order. A command not named
# here keeps the panel its decorator gives it (rich_help_panel=...) and comes after these.
HELP_PANELS: dict[str, tuple[str, ...]] = {
    "Train and evaluate": ("init", "train", "label", "adapt", "models", "evaluate"),
    "Score": ("score", "explain"),
    "Serve": ("serve", "openapi"),
    "Package and deploy": ("build", "push", "deploy", "status", "logs", "delete"),
    "Monitor": ("monitor",),
}


def _name_of(info: typer.models.CommandInfo) -> str:
    callback = getattr(info.callback, "__name__", "")
    return info.name or callback.replace("_", "-")


def _group_help() -> None:
    order = [name for names in HELP_PANELS.values() for name in names]
    panel_of = {name: panel for panel, names in HELP_PANELS.items() for name in names}

    for info in app.registered_commands:
        panel = panel_of.get(_name_of(info))
        if panel is not None and isinstance(info.rich_help_panel, (type(None), typer.models.DefaultPlaceholder)):
            info.rich_help_panel = panel
    app.registered_commands.sort(key=lambda info: order.index(_name_of(info)) if _name_of(info) in order else len(order))


_group_help()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    render.warn(str(message))


def _command_line(args: list[str]) -> typer.Typer:
    """The app to parse ``args`` with: when they start with a command's name, an app of that command alone.

    Typer builds the parser of every registered command before it looks at the arguments: ~50 ms
    of each start (``sentikit serve``, a cold ``sentikit score``). Help, options before the command
    and unknown names get the whole app, and with it the full command list and suggestions.
    """
    if not args or args[0].startswith("-"):
        return app
    info = next((info for info in app.registered_commands if _name_of(info) == args[0]), None)
    if info is None:
        return app
    alone = copy.copy(app)
    alone.registered_commands = [info]
    return alone


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; map sentikit errors to a one-line message and an exit code."""
    warnings.showwarning = _show_warning
    if not os.environ.get(DEBUG_ENV_VAR):
        # The Azure SDK logs each failed credential of its chain as a multi-line warning; our
        # error message says what to do instead. SENTIKIT_DEBUG=1 shows them.
        logging.getLogger("azure").addHandler(logging.NullHandler())
    try:
        # Typer's standalone mode renders usage errors itself and exits 2.
        args = list(argv) if argv is not None else sys.argv[1:]
        # get_group, not the Typer object's call: with one command registered that would make a
        # bare command of it, and "sentikit serve" would read "serve" as serve's MODEL argument.
        typer.main.get_group(_command_line(args))(args=args, prog_name="sentikit")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except (SentikitError, OSError) as exc:
        # OSError: a file or device the library did not translate (e.g. a workspace under /proc);
        # still one line, never a traceback.
        if os.environ.get(DEBUG_ENV_VAR):
            raise
        # escaped: messages quote user input and paths, which may hold [brackets]
        render.console.print(f"[bold red]error:[/] {render.escape(error_message(exc))}", highlight=False, soft_wrap=True)
        return exit_code_for(exc)
    except KeyboardInterrupt as exc:
        render.console.print("interrupted")
        return exit_code_for(exc)
    return int(ExitCode.OK)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
