"""Moved to :mod:`sentikit.cli.render`; this name stays importable for existing code."""

from .cli.render import *  # noqa: F401,F403
from .cli.render import console as console
from .cli.render import emit_json as emit_json
from .cli.render import out_console as out_console
from ._json import to_jsonable as to_jsonable
