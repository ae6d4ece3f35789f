"""``continuum-celery schedules list|describe|pause|unpause|trigger|backfill|delete``.

Each command calls ``cx.schedules``, as the API does; a refused request (unknown
id, bad time) is one line on stderr and exit code 2.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import click

from .context import cx, global_options
from .errors import UserError
from .output import cell, echo_json, echo_table, format_option


@click.group("schedules")
def schedules() -> None:
    """Durable cron and interval schedules: read, pause, trigger, backfill, delete."""


@schedules.command("list")
@click.option("--limit", type=int, default=100, show_default=True)
@format_option("table", "json")
@global_options
def list_schedules(limit: int, fmt: str) -> None:
    """Every schedule, by id."""
    found = cx().schedules.list(limit=limit)
    if fmt == "json":
        echo_json([asdict(s) for s in found])
        return
    rows = [[s.schedule_id, s.workflow, " | ".join(s.specs), s.tz, s.overlap,
             "paused" if s.paused else "active", cell(s.next_fire_at)] for s in found]  # fmt: skip
    echo_table(["ID", "WORKFLOW", "SPEC", "TZ", "OVERLAP", "STATE", "NEXT FIRE"], rows)


@schedules.command()
@click.argument("schedule_id")
@click.option("--next", "upcoming", type=int, default=5, show_default=True,
              help="How many future fire times to show.")  # fmt: skip
@format_option("table", "json")
@global_options
def describe(schedule_id: str, upcoming: int, fmt: str) -> None:
    """A schedule's settings, counters, recent actions and next fire times."""
    d = cx().schedules.describe(schedule_id, upcoming)
    if fmt == "json":
        echo_json(asdict(d))
        return
    s = d.schedule
    lines = [("id", s.schedule_id), ("workflow", s.workflow), ("spec", " | ".join(s.specs)),
             ("tz", s.tz), ("overlap", s.overlap), ("paused", f"{s.paused} {s.note or ''}"),
             ("actions", d.actions), ("missed (catch-up window)", d.missed_catchup),
             ("skipped (overlap)", d.overlap_skipped), ("dropped (buffer)", d.buffer_dropped),
             ("buffered", len(d.buffered)), ("last run", d.last_run_id)]  # fmt: skip
    lines += [("next", cell(t)) for t in d.next_fire_times]
    lines += [("recent", f"{a['scheduled_time']} {a['run_id']}") for a in d.recent_actions]
    echo_table(["FIELD", "VALUE"], [[name, cell(value)] for name, value in lines])


@schedules.command()
@click.argument("schedule_id")
@click.option("--note", help="Why, shown by describe.")
@global_options
def pause(schedule_id: str, note: str | None) -> None:
    """Stop firing until unpaused."""
    cx().schedules.pause(schedule_id, note)
    click.echo(f"paused {schedule_id}")


@schedules.command()
@click.argument("schedule_id")
@click.option("--note", help="Why, shown by describe.")
@global_options
def unpause(schedule_id: str, note: str | None) -> None:
    """Fire again from the next tick on."""
    cx().schedules.unpause(schedule_id, note)
    click.echo(f"unpaused {schedule_id}")


@schedules.command()
@click.argument("schedule_id")
@click.option("--overlap", help="Overlap policy for this run (default: the schedule's).")
@global_options
def trigger(schedule_id: str, overlap: str | None) -> None:
    """Start one run now; prints its run id."""
    run_id = cx().schedules.trigger(schedule_id, overlap)
    click.echo(run_id if run_id is not None else "not started (overlap policy)")


@schedules.command()
@click.argument("schedule_id")
@click.argument("start")
@click.argument("end")
@click.option("--overlap", help="Overlap policy for these runs (default: the schedule's).")
@global_options
def backfill(schedule_id: str, start: str, end: str, overlap: str | None) -> None:
    """Run every tick in [START, END) now (ISO times with an offset); prints run ids."""
    for run_id in cx().schedules.backfill(schedule_id, _when(start), _when(end), overlap):
        click.echo(run_id)


@schedules.command()
@click.argument("schedule_id")
@global_options
def delete(schedule_id: str) -> None:
    """Delete the schedule; runs it started are left alone."""
    cx().schedules.delete(schedule_id)
    click.echo(f"deleted {schedule_id}")


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{text!r} is not an ISO time like 2026-01-31T09:00+01:00") from None
    if value.tzinfo is None:
        raise UserError(f"{text!r} has no UTC offset; add one, like +00:00")
    return value
