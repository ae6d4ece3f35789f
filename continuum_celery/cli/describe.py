"""``runs describe``: what an operator asks first about one run, on one screen.

The table form shows each part of ``cx.describe`` only when it has something in it;
``--format json`` prints all of it, empty parts included, for scripts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from ..views import Description, RunLink
from .context import cx, global_options
from .output import cell, echo_json, echo_table, format_option


@click.command("describe")
@click.argument("run_id")
@format_option("table", "json")
@global_options
def describe(run_id: str, fmt: str) -> None:
    """Describe a run: state, pending activities, timers, signals, children, lineage."""
    found = cx().describe(run_id)
    if fmt == "json":
        echo_json(asdict(found))
        return
    _summary(found)
    _sections(found)


def _summary(found: Description) -> None:
    run = found.run
    lines = {
        "run": run.run_id,
        "workflow": f"{run.workflow} (version {run.version}, namespace {run.namespace})",
        "state": run.state,
        "started": cell(run.created_at),
        "ended": cell(run.completed_at),
        "error": cell(run.error),
        "cancel": cell(run.cancel_requested_at and f"{cell(run.cancel_requested_at)} "
                       f"{run.cancel_reason or ''}".strip()),
        "attributes": cell(run.attributes),
        "parent": _link(found.parent),
        "forked from": _link(found.forked_from),
        "chain": " -> ".join(found.chain) if len(found.chain) > 1 else "",
    }  # fmt: skip
    for label, value in lines.items():
        if value:
            click.echo(f"{label:<12}{value}")


def _link(link: RunLink | None) -> str:
    if link is None:
        return ""
    at = f" at seq {link.fork_seq}" if link.fork_seq is not None else ""
    return f"{link.run_id} ({link.workflow}, {link.state}){at}"


def _sections(found: Description) -> None:
    """Each non-empty list as a titled table, in the order an operator reads them."""
    sections: dict[str, tuple[list[str], list[list[Any]]]] = {
        "activities": (
            ["activity", "attempt", "state", "claimed_by", "next_retry_at", "last_error"],
            [[a.activity, a.attempt, a.state, a.claimed_by, a.next_retry_at, a.last_error]
             for a in found.activities],
        ),
        "timers": (["command", "kind", "name", "fires_at"],
                   [[w.command_id, w.kind, w.name, w.fires_at] for w in found.timers]),
        "awaited signals": (["command", "name", "fires_at"],
                            [[w.command_id, w.name, w.fires_at] for w in found.awaited_signals]),
        "buffered signals": (["name", "payload", "received"],
                             [[s.name, s.payload, s.created_at] for s in found.buffered_signals]),
        "children": (["run_id", "workflow", "state"],
                     [[c.run_id, c.workflow, c.state] for c in found.children]),
        "forks": (["run_id", "workflow", "state", "fork_seq"],
                  [[f.run_id, f.workflow, f.state, f.fork_seq] for f in found.forks]),
    }  # fmt: skip
    for title, (headers, rows) in sections.items():
        if rows:
            click.echo(f"\n{title}")
            echo_table(headers, [[cell(value) for value in row] for row in rows])
