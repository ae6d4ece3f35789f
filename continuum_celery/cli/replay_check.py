"""``replay-check``: recorded runs replayed against today's code, as a CI gate.

Reads runs straight from the journal (or from an export file with ``--jsonl``),
replays each through the engine with the app's registered workflows, and prints
every drift as it is found: run, seq, what the journal holds and what the code
did. Exit 0 when clean, 1 on any drift, 2 on a mistake (one line).
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from ..core import Continuum
from ..replaying import Replayer, ReplayReport, ReplayResult
from .context import Settings, cx, global_options
from .errors import UserError
from .listing import QUERY_HELP


@click.command(name="replay-check")
@click.option("--workflow", "-w", metavar="NAME", help="Only runs of this workflow.")
@click.option("--since", metavar="AGE", help="Only runs created since: 7d, 12h or an ISO time.")
@click.option("--query", "-q", default="", help=QUERY_HELP)
@click.option("--limit", type=int, help="At most this many runs (default: all that match).")
@click.option("--page", type=int, default=500, show_default=True,
              help="Runs read per statement (1-1000).")  # fmt: skip
@click.option("--jsonl", metavar="FILE", help="Replay an export file instead of the journal.")
@global_options
def replay_check(
    workflow: str | None, since: str | None, query: str, limit: int | None, page: int,
    jsonl: str | None,
) -> None:  # fmt: skip
    """Replay recorded runs (any state) against your app's workflow code; print each
    drift and exit 1 if there is any. Needs --app (or `celery -A app continuum`)."""
    replayer = Replayer(_app_continuum())
    if jsonl is not None:
        results = _from_file(replayer, jsonl, workflow, since, query, limit)
    else:
        results = replayer.iter_journal(query, workflow=workflow, since=since, limit=limit,
                                        page=page)  # fmt: skip
    report = ReplayReport()
    for result in results:
        _show(report.add(result))
    _summary(report)
    click.get_current_context().exit(0 if report.ok else 1)


def _app_continuum() -> Continuum:
    """The user's app: its registered workflows are the code under test."""
    settings = click.get_current_context().ensure_object(Settings)
    if settings.app is None and settings.celery_app is None:
        raise UserError("replay-check needs your code: pass --app module:cx")
    return cx()


def _from_file(
    replayer: Replayer, path: str, workflow: str | None, since: str | None, query: str,
    limit: int | None,
) -> Iterator[ReplayResult]:  # fmt: skip
    if since is not None or query:
        raise UserError("--since and --query select from the journal; not with --jsonl")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1, not {limit}")
    try:
        open(path, encoding="utf-8").close()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    found = replayer.iter_jsonl(path, workflow)
    return found if limit is None else _first(found, limit)


def _first(results: Iterator[ReplayResult], limit: int) -> Iterator[ReplayResult]:
    for count, result in enumerate(results, 1):
        yield result
        if count >= limit:
            return


def _show(result: ReplayResult) -> None:
    if result.drift is not None:
        click.echo(f"drift: {result.drift}")


def _summary(report: ReplayReport) -> None:
    drifted = len(report.drifts)
    skipped = f", {report.skipped} without code here" if report.skipped else ""
    click.echo(f"replayed {report.replayed} run(s): {drifted} drifted{skipped}", err=True)
