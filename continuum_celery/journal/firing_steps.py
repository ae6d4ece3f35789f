"""One schedule's steps, applied in its firing transaction: start a tick's run,
cancel or terminate the open run, save the cursor and counters.

``firing.py`` runs these one schedule at a time (trigger, backfill, and a batch
that needs a savepoint per schedule); ``firing_batch.py`` does the usual pass set
by set and falls back to these only for a schedule that must end its open run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..errors import RunFinished
from ..schedules import DstRule, Due, Spec, Step, Timing, parse_specs, zone
from ..schedules.plan import Plan
from .db import execute
from .lifecycle import chain_tip, request_cancel_tree, terminate_tree
from .queries import q
from .records import NewRun
from .rows import dumps
from .schedules import ScheduleRecord
from .starts import insert_run

RECENT_ACTIONS = 10
SAVE_FIRING = q(
    "UPDATE cx_schedules SET next_tick = :next_tick, next_fire_at = :next_fire_at,"
    " buffered = CAST(:buffered AS jsonb), last_run_id = :last_run_id,"
    " actions = actions + :actions, missed_catchup = missed_catchup + :missed,"
    " overlap_skipped = overlap_skipped + :skipped, buffer_dropped = buffer_dropped + :dropped,"
    " recent_actions = jsonb_path_query_array(recent_actions || CAST(:recent AS jsonb),"
    " '$[last - 9 to last]') WHERE id = :id"
)


@functools.lru_cache(maxsize=4096)
def iso(instant: datetime) -> str:
    """An instant as stored in ids and attributes. Cached: the schedules of one pass
    mostly share their ticks, and ``isoformat`` of an aware datetime is slow."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tick_run_id(schedule_id: str, tick: datetime) -> str:
    """The one run id a tick may start, whoever starts it (upkeep or a backfill)."""
    return f"sched:{schedule_id}:{iso(tick)}"


def trigger_run_id(schedule_id: str, now: datetime) -> str:
    return f"sched:{schedule_id}:trigger:{iso(now)}"


def timing_of(s: ScheduleRecord) -> Timing:
    return Timing(s.id, stored_specs(s.specs), zone(s.tz), DstRule(s.dst_gap, s.dst_fold),
                  timedelta(seconds=s.jitter), timedelta(seconds=s.catchup_window))  # fmt: skip


def stored_specs(specs: Any) -> tuple[Spec, ...]:
    """Specs as stored, parsed once per process (many schedules share a few); a
    row that is not a list of strings is parsed (and refused) as it stands."""
    if isinstance(specs, list) and all(isinstance(text, str) for text in specs):
        return _parsed(tuple(specs))
    return parse_specs(specs)


@functools.lru_cache(maxsize=1024)
def _parsed(texts: tuple[str, ...]) -> tuple[Spec, ...]:
    return parse_specs(texts)


@dataclass
class Applied:
    """What applying steps did: counts and actions for the row, runs to wake."""

    last_run_id: str | None
    created: list[str] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)

    def started(self, run_id: str, tick: datetime, now: datetime, via: str) -> None:
        """The tick's run was inserted (not found taken): count it and wake it."""
        self.created.append(run_id)
        self.woken.append(run_id)
        self.recent.append({"scheduled_time": iso(tick), "started_at": iso(now),
                            "run_id": run_id, "via": via})  # fmt: skip


def tick_run(s: ScheduleRecord, tick: datetime, run_id: str) -> NewRun:
    """The run a tick starts; it knows its schedule and tick by its attributes."""
    attributes = {"schedule_id": s.id, "scheduled_time": iso(tick)}
    return NewRun(run_id=run_id, workflow=s.workflow, args=s.args, kwargs=s.kwargs, version=0,
                  attributes=attributes)  # fmt: skip


def apply_steps(
    conn: Connection,
    s: ScheduleRecord,
    steps: list[Step],
    now: datetime,
    run_id_of: Callable[[datetime], str],
    via: str,
) -> Applied:
    """The steps in order, each run inserted on its own (an end step may target
    the run the step before it started)."""
    applied = Applied(s.last_run_id)
    for step in steps:
        if step.kind == "start" and step.tick is not None:
            run_id = run_id_of(step.tick)
            applied.last_run_id = run_id
            if insert_run(conn, tick_run(s, step.tick, run_id), s.scope):
                applied.started(run_id, step.tick, now, via)
        elif applied.last_run_id is not None:
            applied.woken += _end_open(conn, s, step.kind, applied.last_run_id)
    return applied


def _end_open(conn: Connection, s: ScheduleRecord, kind: str, run_id: str) -> list[str]:
    """Cancel or terminate the schedule's open run; one that already ended is fine."""
    by = f"schedule {s.id}"
    tip = chain_tip(conn, run_id)
    try:
        if kind == "cancel":
            return request_cancel_tree(conn, tip, f"overlap policy {s.overlap}: a new tick", by)
        return terminate_tree(conn, tip, f"overlap policy {s.overlap}: a new tick", by)
    except RunFinished:
        return []


def changed(s: ScheduleRecord, p: Plan) -> bool:
    """Whether the pass changes the row (a buffered schedule whose run is still
    open does not)."""
    counters = (p.skipped, p.dropped, p.missed)
    cursor = (p.next_tick, p.next_fire_at) != (s.next_tick, s.next_fire_at)
    buffered = [iso(t) for t in p.buffered] != s.buffered
    return bool(p.steps) or any(counters) or cursor or buffered


def saved(s: ScheduleRecord, applied: Applied, p: Plan,
          cursor: tuple[datetime | None, datetime | None]) -> dict[str, Any]:  # fmt: skip
    """The row's new cursor and memory, and what to add to its counters (and to
    its recent actions, which the statement keeps to the last ``RECENT_ACTIONS``)."""
    recent = applied.recent[-RECENT_ACTIONS:]
    return {"id": s.id, "next_tick": cursor[0], "next_fire_at": cursor[1],
            "buffered": [iso(t) for t in p.buffered],
            "last_run_id": applied.last_run_id, "actions": len(applied.created),
            "missed": p.missed, "skipped": p.skipped, "dropped": p.dropped,
            "recent": recent}  # fmt: skip


def save(conn: Connection, s: ScheduleRecord, applied: Applied, p: Plan,
         cursor: tuple[datetime | None, datetime | None]) -> None:  # fmt: skip
    params = saved(s, applied, p, cursor)
    params["buffered"], params["recent"] = dumps(params["buffered"]), dumps(params["recent"])
    execute(conn, SAVE_FIRING, params)


def due_of(s: ScheduleRecord, overlap: str, running: bool) -> Due:
    """The schedule as ``plan`` takes it; under ``allow_all`` an open run is moot."""
    buffered = tuple(datetime.fromisoformat(t) for t in s.buffered)
    return Due(timing_of(s), overlap, s.next_tick, buffered, running and overlap != "allow_all")
