"""Operator actions on a run: signal, cancel, terminate, fork, retry an activity now.

Each publishes through the ``Continuum``'s Celery app, so pass ``--app`` (or set
``$CELERY_BROKER_URL``) to reach the workers' broker.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .context import cx, global_options
from .errors import UserError


def payload_of(text: str | None) -> Any:
    """The signal's payload, as JSON; absent means ``null``."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise UserError(f"PAYLOAD_JSON is not valid JSON: {error}") from None


@click.command()
@click.argument("run_id")
@click.argument("name")
@click.argument("payload_json", required=False)
@global_options
def signal(run_id: str, name: str, payload_json: str | None) -> None:
    """Send signal NAME, with an optional JSON payload, to a run."""
    cx().signal(run_id, name, payload_of(payload_json))
    click.echo(f"signal {name} sent to {run_id}")


@click.command()
@click.argument("run_id")
@click.option("--reason", help="Why, for the journal and the logs.")
@global_options
def cancel(run_id: str, reason: str | None) -> None:
    """Ask a run (and its children) to cancel; its code may clean up first."""
    cx().cancel(run_id, reason)
    click.echo(f"cancel requested for {run_id}")


@click.command()
@click.argument("run_id")
@click.option("--reason", required=True, help="Why, for the journal and the logs.")
@global_options
def terminate(run_id: str, reason: str) -> None:
    """Stop a run (and its children) now, running no workflow code."""
    cx().terminate(run_id, reason)
    click.echo(f"terminated {run_id}")


@click.command()
@click.argument("run_id")
@click.option(
    "--at",
    "at_seq",
    type=int,
    help="Keep history before this seq (default: at the failure).",
)
@click.option("--reason", help="Why, for the journal and the logs.")
@global_options
def fork(run_id: str, at_seq: int | None, reason: str | None) -> None:
    """Restart a run as a new one with its history up to a point; prints the new id."""
    click.echo(cx().fork(run_id, at_seq, reason=reason).run_id)


@click.command("retry-activity")
@click.argument("run_id")
@global_options
def retry_activity(run_id: str) -> None:
    """Make the run's activity waiting out a retry backoff due now."""
    count = cx().retry_activity(run_id)
    click.echo(f"{count} activit{'y' if count == 1 else 'ies'} due now")


COMMANDS = [signal, cancel, terminate, fork, retry_activity]
