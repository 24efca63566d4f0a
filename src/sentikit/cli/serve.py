"""Commands of the REST API: serve, openapi."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import render as output
from .._atomic import atomic_output
from ..config import read_api_key
from ..model import resolve_model
from .app import ModelArgument, ModelFlag, WorkspaceOption, app, pick_model, settings


@app.command()
def serve(
    model: ModelArgument = None,
    model_flag: ModelFlag = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Interface to listen on \\[default: 127.0.0.1].")] = None,
    port: Annotated[Optional[int], typer.Option("--port", "-p", help="Port \\[default: 8000].")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes \\[default: 1].")] = None,
    max_text_chars: Annotated[
        Optional[int], typer.Option("--max-text-chars", min=1, help="Longest text accepted \\[default: 10000].")
    ] = None,
    max_batch: Annotated[
        Optional[int], typer.Option("--max-batch", min=1, help="Most texts per POST /v1/score \\[default: 1000].")
    ] = None,
    max_body_bytes: Annotated[
        Optional[int], typer.Option("--max-body-bytes", min=1, help="Largest request body \\[default: 1048576].")
    ] = None,
    cors_origins: Annotated[
        Optional[str], typer.Option("--cors-origins", help="Comma-separated browser origins allowed, or '*' \\[default: none].")
    ] = None,
    threshold: Annotated[
        Optional[float], typer.Option("--threshold", "-t", help="Scores at or above this are labelled positive \\[default: 0.5].")
    ] = None,
    access_log: Annotated[
        Optional[bool], typer.Option("--access-log/--no-access-log", help="Log every request \\[default: on].")
    ] = None,
    tls_cert: Annotated[
        Optional[Path], typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate (chain) file.")
    ] = None,
    tls_key: Annotated[
        Optional[Path], typer.Option("--tls-key", help="The certificate's PEM private key, unless the certificate file holds it.")
    ] = None,
    ui: Annotated[
        Optional[bool], typer.Option("--ui/--no-ui", help="Serve the pages / and /monitor \\[default: on].")
    ] = None,
    monitor: Annotated[Optional[bool], typer.Option("--monitor/--no-monitor", help="The desk: store posts sent to POST /v1/posts and alert like `sentikit monitor` \\[default: off].", rich_help_panel="Monitor (the desk)")] = None,
    store: Annotated[Optional[str], typer.Option("--store", help="The desk's SQLite file \\[default: ./monitor.db].", rich_help_panel="Monitor (the desk)")] = None,
    alert_below: Annotated[Optional[float], typer.Option("--alert-below", help="Alert when the rolling mean score falls below this (0-1). Required with --monitor.", rich_help_panel="Monitor (the desk)")] = None,
    recover_above: Annotated[Optional[float], typer.Option("--recover-above", help="Recover when the mean reaches this again \\[default: --alert-below].", rich_help_panel="Monitor (the desk)")] = None,
    window: Annotated[Optional[int], typer.Option("--window", "-n", min=1, help="Rolling window: the last N posts.", rich_help_panel="Monitor (the desk)")] = None,
    window_seconds: Annotated[Optional[float], typer.Option("--window-seconds", "-s", help="Rolling window: the last S seconds of event time.", rich_help_panel="Monitor (the desk)")] = None,
    min_count: Annotated[Optional[int], typer.Option("--min-count", help="No alert with fewer posts in the window \\[default: N for --window, 10 for --window-seconds].", rich_help_panel="Monitor (the desk)")] = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST each alert and recovery as JSON to this URL.", rich_help_panel="Monitor (the desk)")] = None,
    retention_days: Annotated[Optional[float], typer.Option("--retention-days", help="Delete posts older than this \\[default: 90].", rich_help_panel="Monitor (the desk)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve a model over HTTP until Ctrl-C or SIGTERM.

    Set SENTIKIT_API_KEY to require an API key (bearer token, X-API-Key or
    Ocp-Apim-Subscription-Key header). Azure AI Language clients work against
    /language/:analyze-text and /text/analytics/v3.x/sentiment; token-credential
    clients need HTTPS (--tls-cert and --tls-key).

    Example:
        sentikit serve sentiment:1 --port 8000 --workers 2
        sentikit serve --tls-cert cert.pem --tls-key key.pem
        sentikit serve --monitor --alert-below 0.4 --window 50
    """
    from ..server.run import checked_spec, run_server, server_url

    s = settings(
        workspace=workspace, server_host=host, server_port=port, server_workers=workers,
        server_max_text_chars=max_text_chars, server_max_batch=max_batch, server_max_body_bytes=max_body_bytes,
        server_cors_origins=cors_origins, server_access_log=access_log, threshold=threshold,
        server_tls_cert=tls_cert and str(tls_cert), server_tls_key=tls_key and str(tls_key),
        monitor_enabled=monitor, monitor_store=store, monitor_alert_below=alert_below, monitor_recover_above=recover_above,
        monitor_window=window, monitor_window_seconds=window_seconds, monitor_min_count=min_count,
        monitor_webhook=webhook, monitor_retention_days=retention_days, server_ui=ui,
    )
    loaded = resolve_model(pick_model(model, model_flag), Path(s.workspace), s.model_name)
    api_key = read_api_key()
    spec = checked_spec(loaded, s, api_key)
    # plain, like the server's log lines that follow: rich is not imported to start a server
    print(f"serving {loaded.reference} ({loaded.path}) on {server_url(s)} - docs at /docs"
          f"{', API key required' if api_key else ''}{f', monitor store {s.monitor_store}' if s.monitor_enabled else ''}",
          file=sys.stderr, flush=True)
    run_server(loaded, s, api_key=api_key, spec=spec)


@app.command()
def openapi(
    output_file: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write the document to this file instead of stdout.")
    ] = None,
) -> None:
    """Write the REST API's OpenAPI 3.1 document (for generating clients).

    Example:
        sentikit openapi --output openapi.json
    """
    from ..config import ServerLimits
    from ..server.azure_language import AzureLanguageOptions
    from ..server.openapi import openapi_document

    s = settings()
    limits, azure = ServerLimits.from_settings(s), AzureLanguageOptions.from_settings(s)
    document = json.dumps(openapi_document(limits=limits, azure=azure), indent=2) + "\n"
    if output_file is None:
        typer.echo(document, nl=False)
    else:
        with atomic_output(output_file) as handle:
            handle.write(document)
        output.console.print(f"wrote {output_file}")
