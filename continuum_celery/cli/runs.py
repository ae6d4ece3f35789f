"""``runs``: read one run (``show``, ``history``); the other readers (``list``,
``count``, ``describe``) live in modules of their own and join this group in
``commands.py``."""

from __future__ import annotations

from dataclasses import asdict

import click

from . import timeline
from .context import Group, cx, global_options
from .output import echo_json


@click.group(cls=Group)
@global_options
def runs() -> None:
    """Read runs."""


@runs.command()
@click.argument("run_id")
@global_options
def show(run_id: str) -> None:
    """Print a run as JSON."""
    echo_json(asdict(cx().get_run(run_id)))


@runs.command()
@click.argument("run_id")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "jsonl"]), default="table",
    help="table (coloured on a terminal, plain when piped), json or jsonl.",
)  # fmt: skip
@global_options
def history(run_id: str, fmt: str) -> None:
    """Print a run's journal as a timeline: times since the start, waits' durations."""
    client = cx()
    start = client.get_run(run_id).created_at
    timeline.render(timeline.entries(client.history(run_id), start), fmt)
