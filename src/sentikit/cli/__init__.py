"""The ``sentikit`` command line: a thin layer that parses, calls the library, and renders.

Each submodule registers its commands on :data:`sentikit.cli.app.app`; :func:`main`
is the console-script entry point and the single place where errors become
messages and exit codes.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Sequence

from rich.markup import escape

from ..config import DEBUG_ENV_VAR
from ..errors import ExitCode, SentikitError
from .app import app, err_console

# Importing the command modules registers their commands on `app`.
from . import cloud, image, local, monitor, serve  # noqa: E402,F401
from . import adapt  # noqa: E402,F401  (label, adapt: issue 12)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; map sentikit errors to a one-line message and an exit code."""
    warnings.showwarning = _show_warning
    if not os.environ.get(DEBUG_ENV_VAR):
        # The Azure SDK logs each failed credential of its chain as a multi-line warning; our
        # error message says what to do instead. SENTIKIT_DEBUG=1 shows them.
        logging.getLogger("azure").addHandler(logging.NullHandler())
    try:
        # Typer's standalone mode renders usage errors itself and exits 2.
        app(args=list(argv) if argv is not None else None, prog_name="sentikit")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except SentikitError as exc:
        if os.environ.get(DEBUG_ENV_VAR):
            raise
        # escaped: messages quote user input and paths, which may hold [brackets]
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.OK)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
