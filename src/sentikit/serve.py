"""Compatibility shim: the server lives in :mod:`sentikit.server`.

``python -m sentikit.serve`` (the image's entry point) and
``uvicorn --factory sentikit.serve:app_from_env`` keep working through it.
"""

from __future__ import annotations

from .server import ApiError, ServerLimits, app_from_env, create_app, main, openapi_document, run_server

__all__ = ["ApiError", "ServerLimits", "app_from_env", "create_app", "main", "openapi_document", "run_server"]

if __name__ == "__main__":
    raise SystemExit(main())
