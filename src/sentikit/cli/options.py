"""Options and arguments shared by several commands, spelled once."""

from __future__ import annotations

from typing import Annotated, Any, Optional

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


# The alert channels' options, shared by `monitor` and `serve --monitor` (same names, same meanings).
WebhookOption = Annotated[Optional[list[str]], typer.Option("--webhook", help="POST each alert and recovery to this URL (repeatable; FORMAT+URL such as slack+https://... picks its format) \\[env: SENTIKIT_MONITOR_WEBHOOK, comma-separated].", rich_help_panel="Alerts")]
WebhookFormatOption = Annotated[Optional[list[str]], typer.Option("--webhook-format", help="json, slack or teams: once for every --webhook, or once per --webhook in order; a FORMAT+ prefix wins \\[default: json].", rich_help_panel="Alerts")]
EmailToOption = Annotated[Optional[list[str]], typer.Option("--email-to", help="Email each alert and recovery to this address (repeatable; needs --smtp-url).", rich_help_panel="Alerts")]
EmailFromOption = Annotated[Optional[str], typer.Option("--email-from", help="Sender address \\[default: sentikit@<smtp host>].", rich_help_panel="Alerts")]
SmtpUrlOption = Annotated[Optional[str], typer.Option("--smtp-url", help="smtp://host:port (STARTTLS when offered) or smtps://host:port; user and password from SENTIKIT_SMTP_USER / SENTIKIT_SMTP_PASSWORD.", rich_help_panel="Alerts")]
PublicUrlOption = Annotated[Optional[str], typer.Option("--public-url", help="The dashboard's URL as the team reaches it: linked in every alert.", rich_help_panel="Alerts")]
RetryHoursOption = Annotated[Optional[float], typer.Option("--alert-retry-hours", help="Keep retrying an undelivered alert this long \\[default: 24].", rich_help_panel="Alerts")]


def channel_settings(webhook: Optional[list[str]], webhook_format: Optional[list[str]], email_to: Optional[list[str]],
                     email_from: Optional[str], smtp_url: Optional[str], public_url: Optional[str],
                     alert_retry_hours: Optional[float]) -> dict[str, Any]:
    """The channel options as settings overrides (lists comma-joined, like the environment's)."""
    return {"monitor_webhook": _joined(webhook), "monitor_webhook_format": _joined(webhook_format),
            "monitor_email_to": _joined(email_to), "monitor_email_from": email_from, "monitor_smtp_url": smtp_url,
            "monitor_public_url": public_url, "monitor_alert_retry_hours": alert_retry_hours}


def _joined(values: Optional[list[str]]) -> Optional[str]:
    return ",".join(values) if values else None
