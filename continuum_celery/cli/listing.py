"""``runs list`` and ``runs count``: select runs with the query language of
docs/queries.md, so a filter tried here works unchanged in ``cx.list_runs``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from ..client import Run
from .context import cx, global_options
from .output import cell, echo_json, echo_records, echo_table, format_option

QUERY_HELP = "A query, such as 'state = \"failed\" AND created_at > -1d' (docs/queries.md)."
LIST_HEADERS = ["run_id", "workflow", "state", "created_at", "ended_at", "error"]


@click.command("list")
@click.option("--query", "-q", default="", help=QUERY_HELP)
@click.option("--limit", type=int, default=50, show_default=True, help="Runs per page (1-1000).")
@click.option("--cursor", help="Continue from the page that printed it.")
@format_option("table", "json", "jsonl")
@global_options
def list_runs(query: str, limit: int, cursor: str | None, fmt: str) -> None:
    """List runs, newest first, one page at a time.

    json prints {"runs": [...], "next_cursor": ...}; table and jsonl keep stdout for
    runs and print "next cursor: C" on stderr when there is another page.
    """
    page = cx().list_runs(query, limit=limit, cursor=cursor)
    if fmt == "json":
        echo_json({"runs": [asdict(run) for run in page.runs], "next_cursor": page.next_cursor})
        return
    if fmt == "jsonl":
        echo_records([asdict(run) for run in page.runs], fmt)
    else:
        echo_table(LIST_HEADERS, [run_row(run) for run in page.runs])
    if page.next_cursor:
        click.echo(f"next cursor: {page.next_cursor}", err=True)


def run_row(run: Run) -> list[str]:
    values = [run.run_id, run.workflow, run.state, run.created_at, run.completed_at, run.error]
    return [cell(value) for value in values]


@click.command("count")
@click.option("--query", "-q", default="", help=QUERY_HELP)
@click.option(
    "--group-by", default="", metavar="FIELDS",
    help="Comma-separated: state, workflow, namespace.",
)  # fmt: skip
@format_option("table", "json")
@global_options
def count_runs(query: str, group_by: str, fmt: str) -> None:
    """Count runs matching a query, per group if asked; groups with most runs first."""
    fields = tuple(name.strip() for name in group_by.split(",") if name.strip())
    counts = cx().count_runs(query, group_by=fields)
    records = _records(fields, counts)
    if fmt == "json":
        echo_json(records)
    elif not fields:
        click.echo(str(records[0]["count"] if records else 0))
    else:
        echo_table([*fields, "count"], [[cell(v) for v in r.values()] for r in records])


def _records(fields: tuple[str, ...], counts: dict[tuple[Any, ...], int]) -> list[dict[str, Any]]:
    """One dict per group, biggest first, ties by name, so output is stable for diff."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], [str(v) for v in item[0]]))
    return [{**dict(zip(fields, key, strict=True)), "count": n} for key, n in ordered]
