"""Firing schedules: each tick starts at most one run, however many workers race.

Upkeep locks the due schedules (``FOR UPDATE SKIP LOCKED``, found by the index on
``next_fire_at``, a bounded batch), plans each one (``schedules.plan``, pure), and
in the same transaction inserts the runs (the run id derived from schedule id and
tick), asks or forces the open run to end where the overlap policy says so, and
moves the cursor. A racing worker skips the locked rows, and finds the cursor
moved once the lock is gone; a start that got in anyway would find its run id
taken. Trigger and backfill take the same path on one schedule, waiting for its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..errors import ContinuumError, RunFinished, ScheduleNotFound
from ..schedules import DstRule, Due, Step, Timing, parse_specs, zone
from ..schedules.plan import Plan, backfill, plan
from .db import Database, JournalUnavailable, execute
from .lifecycle import chain_tip, request_cancel_tree, terminate_tree
from .queries import q
from .records import DEFAULT_SCOPE, NewRun
from .rows import ACTIVE, dumps
from .schedules import ScheduleRecord, schedule_record
from .store import insert_run

log = logging.getLogger("continuum_celery.schedules")

RECENT_ACTIONS = 10
RETRY_IN = 30.0
DUE_SCHEDULES = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, recent_actions, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE scope = :scope AND NOT paused AND next_fire_at IS NOT NULL"
    " AND next_fire_at <= :now"
    " ORDER BY next_fire_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
# Schedules holding ticks for when their open run ends (buffer and cancel policies).
BUFFERED_SCHEDULES = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, recent_actions, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE scope = :scope AND NOT paused AND buffered <> '[]'::jsonb"
    " ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
LOCK_SCHEDULE = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, recent_actions, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE id = :id FOR UPDATE"
)
# A schedule that could not fire is looked at again later, not in a tight loop.
DEFER_SCHEDULE = q("UPDATE cx_schedules SET next_fire_at = :at WHERE id = :id")
DB_NOW = q("SELECT clock_timestamp()")
RUN_STATE = q("SELECT state FROM cx_runs WHERE id = :id")
SAVE_FIRING = q(
    "UPDATE cx_schedules SET next_tick = :next_tick, next_fire_at = :next_fire_at,"
    " buffered = CAST(:buffered AS jsonb), last_run_id = :last_run_id,"
    " actions = actions + :actions, missed_catchup = missed_catchup + :missed,"
    " overlap_skipped = overlap_skipped + :skipped, buffer_dropped = buffer_dropped + :dropped,"
    " recent_actions = CAST(:recent AS jsonb) WHERE id = :id"
)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tick_run_id(schedule_id: str, tick: datetime) -> str:
    """The one run id a tick may start, whoever starts it (upkeep or a backfill)."""
    return f"sched:{schedule_id}:{iso(tick)}"


def trigger_run_id(schedule_id: str, now: datetime) -> str:
    return f"sched:{schedule_id}:trigger:{iso(now)}"


def timing_of(s: ScheduleRecord) -> Timing:
    return Timing(s.id, parse_specs(s.specs), zone(s.tz), DstRule(s.dst_gap, s.dst_fold),
                  timedelta(seconds=s.jitter), timedelta(seconds=s.catchup_window))  # fmt: skip


@dataclass
class Applied:
    """What applying steps did: counts and actions for the row, runs to wake."""

    last_run_id: str | None
    created: list[str] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)


class ScheduleFiring:
    def __init__(self, db: Database, scope: str = DEFAULT_SCOPE) -> None:
        self.db = db
        self.scope = scope
        """Only this scope's schedules fire here (``Continuum(scope=)``)."""

    def fire_due(self, now: datetime | None, batch: int) -> list[str]:
        """One pass over the due schedules at ``now`` (default: the database clock,
        which also times the upkeep leader's sleep); returns the runs to wake.

        A schedule that cannot fire (a stored spec this code refuses, a value
        Postgres refuses) spoils its batch: the batch is then done again with a
        savepoint per schedule, and that one is deferred. Savepoints cost two round
        trips a schedule, so the usual pass goes without them.
        """
        try:
            return self._pass(now, batch, careful=False)
        except JournalUnavailable:
            raise
        except ContinuumError:
            return self._pass(now, batch, careful=True)

    def _pass(self, now: datetime | None, batch: int, careful: bool) -> list[str]:
        woken: list[str] = []
        with self.db.transaction() as conn:
            now = now or execute(conn, DB_NOW).scalar_one()
            params = {"now": now, "limit": batch, "scope": self.scope}
            rows = execute(conn, DUE_SCHEDULES, params).all()
            seen = {row.id for row in rows}
            buffered = execute(conn, BUFFERED_SCHEDULES, params)
            rows += [row for row in buffered if row.id not in seen]
            for row in rows:
                s = schedule_record(row)
                woken += self._fire_apart(conn, s, now) if careful else _fire(conn, s, now)
        return woken

    def _fire_apart(self, conn: Connection, s: ScheduleRecord, now: datetime) -> list[str]:
        """``_fire`` inside a savepoint: a schedule that cannot fire is logged and
        looked at again ``RETRY_IN`` seconds later."""
        try:
            with conn.begin_nested():
                return _fire(conn, s, now)
        except JournalUnavailable:
            raise
        except ContinuumError as error:
            log.error("schedule %s could not fire (retried in %gs): %s", s.id, RETRY_IN, error)
            execute(conn, DEFER_SCHEDULE, {"id": s.id, "at": now + timedelta(seconds=RETRY_IN)})
            return []

    def start_now(
        self, schedule_id: str, ticks: Iterable[datetime], overlap: str | None, now: datetime,
        via: str,
    ) -> tuple[list[str], list[str]]:  # fmt: skip
        """Trigger or backfill: ``ticks`` through the policy now, on the locked row.
        Returns (run ids started, runs to wake); a tick whose run exists starts none."""
        with self.db.transaction() as conn:
            row = execute(conn, LOCK_SCHEDULE, {"id": schedule_id}).first()
            if row is None:
                raise ScheduleNotFound(f"no schedule with id {schedule_id}")
            s = schedule_record(row)
            outcome = backfill(_due(conn, s, overlap or s.overlap), ticks)
            run_id = _trigger_id(s.id, now) if via == "trigger" else _tick_id(s.id)
            applied = _apply(conn, s, outcome.steps, now, run_id, via)
            p = Plan([], outcome.buffered, outcome.skipped, outcome.dropped, 0, s.next_tick,
                     s.next_fire_at)  # fmt: skip
            _save(conn, s, applied, p, (s.next_tick, s.next_fire_at))
        return applied.created, applied.woken


def _fire(conn: Connection, s: ScheduleRecord, now: datetime) -> list[str]:
    """Plan one schedule, start its runs, move its cursor; returns runs to wake."""
    p = plan(_due(conn, s, s.overlap), now)
    applied = _apply(conn, s, p.steps, now, _tick_id(s.id), "tick")
    if _changed(s, p):  # a buffered schedule whose run is still open: no write
        _save(conn, s, applied, p, (p.next_tick, p.next_fire_at))
    return applied.woken


def _tick_id(schedule_id: str) -> Callable[[datetime], str]:
    return lambda tick: tick_run_id(schedule_id, tick)


def _trigger_id(schedule_id: str, now: datetime) -> Callable[[datetime], str]:
    return lambda _tick: trigger_run_id(schedule_id, now)


def _due(conn: Connection, s: ScheduleRecord, overlap: str) -> Due:
    buffered = tuple(datetime.fromisoformat(t) for t in s.buffered)
    running = overlap != "allow_all" and _running(conn, s.last_run_id)  # allow_all: moot
    return Due(timing_of(s), overlap, s.next_tick, buffered, running)


def _running(conn: Connection, run_id: str | None) -> bool:
    """Is the schedule's last run (or the newest run of its chain) still open?"""
    if run_id is None:
        return False
    state = execute(conn, RUN_STATE, {"id": chain_tip(conn, run_id)}).scalar()
    return state in ACTIVE


def _apply(
    conn: Connection,
    s: ScheduleRecord,
    steps: list[Step],
    now: datetime,
    run_id_of: Callable[[datetime], str],
    via: str,
) -> Applied:
    applied = Applied(s.last_run_id)
    for step in steps:
        if step.kind == "start" and step.tick is not None:
            _start(conn, s, step.tick, run_id_of(step.tick), now, via, applied)
        elif applied.last_run_id is not None:
            applied.woken += _end_open(conn, s, step.kind, applied.last_run_id)
    return applied


def _start(conn: Connection, s: ScheduleRecord, tick: datetime, run_id: str, now: datetime,
           via: str, applied: Applied) -> None:  # fmt: skip
    """Insert the tick's run; a run id already taken means the tick already started."""
    attributes = {"schedule_id": s.id, "scheduled_time": iso(tick)}
    run = NewRun(run_id=run_id, workflow=s.workflow, args=s.args, kwargs=s.kwargs, version=0,
                 attributes=attributes)  # fmt: skip
    applied.last_run_id = run_id
    if insert_run(conn, run, s.scope):
        applied.created.append(run_id)
        applied.woken.append(run_id)
        applied.recent.append({"scheduled_time": iso(tick), "started_at": iso(now),
                               "run_id": run_id, "via": via})  # fmt: skip


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


def _changed(s: ScheduleRecord, p: Plan) -> bool:
    counters = (p.skipped, p.dropped, p.missed)
    cursor = (p.next_tick, p.next_fire_at) != (s.next_tick, s.next_fire_at)
    buffered = [iso(t) for t in p.buffered] != s.buffered
    return bool(p.steps) or any(counters) or cursor or buffered


def _save(conn: Connection, s: ScheduleRecord, applied: Applied, p: Plan,
          cursor: tuple[datetime | None, datetime | None]) -> None:  # fmt: skip
    recent = (s.recent_actions + applied.recent)[-RECENT_ACTIONS:]
    params = {"id": s.id, "next_tick": cursor[0], "next_fire_at": cursor[1],
              "buffered": dumps([iso(t) for t in p.buffered]),
              "last_run_id": applied.last_run_id, "actions": len(applied.created),
              "missed": p.missed, "skipped": p.skipped, "dropped": p.dropped,
              "recent": dumps(recent)}  # fmt: skip
    execute(conn, SAVE_FIRING, params)
