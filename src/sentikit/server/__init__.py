"""The REST API: the app (:mod:`.app`), its metrics, OpenAPI document and docs page, and the runner (:mod:`.run`).

Needs only Starlette, uvicorn, regex and sentikit's own light modules: no Typer, Rich,
scikit-learn, Docker or Azure packages (the container image ships the ``serve`` extra only).
"""

from __future__ import annotations

from ..config import ServerLimits
from .app import create_app
from .inputs import ApiError
from .openapi import openapi_document
from .run import AppSpec, app_from_env, main, run_server

__all__ = ["ApiError", "AppSpec", "ServerLimits", "app_from_env", "create_app", "main", "openapi_document", "run_server"]
