"""``health``: is anything stuck that upkeep cannot fix? Exit 1 if so, for monitors."""

from __future__ import annotations

from dataclasses import asdict

import click

from .. import health as checks
from .context import cx, global_options
from .output import echo_json
from .timeline import seconds


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--grace", type=float, default=60.0, show_default=True,
    help="Seconds a late timer, dead claim or stale wake may last before it counts.",
)  # fmt: skip
@global_options
def health(fmt: str, grace: float) -> None:
    """Schema, blocked runs, late timers, dead claims, stale wakes, upkeep leader."""
    report = checks.check(cx().db, grace, cx().scope)
    problems = report.problems()
    if fmt == "json":
        echo_json({**asdict(report), "problems": problems, "ok": not problems})
    else:
        _text(report, problems)
    click.get_current_context().exit(1 if problems else 0)


def _text(report: checks.Health, problems: list[str]) -> None:
    click.echo(f"schema          {report.schema_version} of {report.shipped_version}")
    click.echo(f"scope           {report.scope}")
    click.echo(f"blocked runs    {report.blocked_runs}")
    click.echo(f"oldest due timer {_timer(report)}")
    click.echo(f"expired claims  {report.expired_claims}")
    click.echo(f"stale wakes     {report.stale_wakes}")
    click.echo(f"upkeep leader   {_leader(report.leader)}")
    click.echo("ok" if not problems else "needs attention: " + "; ".join(problems))


def _timer(report: checks.Health) -> str:
    due = report.oldest_due_timer
    return "none" if due is None else f"{due.isoformat()} ({seconds(report.timer_lag)} late)"


def _leader(leader: checks.Leader | None) -> str:
    if leader is None:
        return "none yet"
    if leader.expired_for > 0:
        return f"{leader.owner}, hold lapsed {seconds(leader.expired_for)} ago"
    return f"{leader.owner}, holding since {leader.since.isoformat()}"
