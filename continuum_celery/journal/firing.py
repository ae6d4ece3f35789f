"""Firing schedules: each tick starts at most one run, however many workers race.

Upkeep locks the due schedules (``FOR UPDATE SKIP LOCKED``, found by the index on
``next_fire_at``, a bounded batch), plans each one (``schedules.plan``, pure), and
in the same transaction, set by set (``firing_batch.py``), inserts the runs (the
run id derived from schedule id and tick), asks or forces the open run to end where
the overlap policy says so, and moves the cursor. A racing worker skips the locked
rows, and finds the cursor moved once the lock is gone; a start that got in anyway
would find its run id taken. Trigger and backfill take the same path on one
schedule, waiting for its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from ..errors import ContinuumError, ScheduleNotFound
from ..schedules import Due
from ..schedules.plan import Plan, backfill, plan
from .db import Database, JournalUnavailable, execute
from .firing_batch import fire_batch, open_runs
from .firing_steps import (
    apply_steps,
    changed,
    due_of,
    save,
    tick_run_id,
    timing_of,
    trigger_run_id,
)
from .queries import q
from .records import DEFAULT_SCOPE
from .schedules import ScheduleRecord, schedule_record

__all__ = ["ScheduleFiring", "tick_run_id", "timing_of", "trigger_run_id"]

log = logging.getLogger("continuum_celery.schedules")

RETRY_IN = 30.0
# Firing reads every column but the recent actions, which it only appends to (in SQL):
# a pass over thousands of schedules need not decode what it never looks at.
DUE_SCHEDULES = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, '[]'::jsonb, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE scope = :scope AND NOT paused AND next_fire_at IS NOT NULL"
    " AND next_fire_at <= :now"
    " ORDER BY next_fire_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
# Schedules holding ticks for when their open run ends (buffer and cancel policies).
BUFFERED_SCHEDULES = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, '[]'::jsonb, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE scope = :scope AND NOT paused AND buffered <> '[]'::jsonb"
    " ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
LOCK_SCHEDULE = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, '[]'::jsonb, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE id = :id FOR UPDATE"
)
# A schedule that could not fire is looked at again later, not in a tight loop.
DEFER_SCHEDULE = q("UPDATE cx_schedules SET next_fire_at = :at WHERE id = :id")
DB_NOW = q("SELECT clock_timestamp()")


class ScheduleFiring:
    def __init__(self, db: Database, scope: str = DEFAULT_SCOPE) -> None:
        self.db = db
        self.scope = scope
        """Only this scope's schedules fire here (``Continuum(scope=)``)."""

    def fire_pass(self, now: datetime | None, batch: int) -> tuple[list[str], bool]:
        """One pass over the due schedules at ``now`` (default: the database clock,
        which also times the upkeep leader's sleep); returns the runs to wake, and
        whether the batch was full (more may be due).

        A schedule that cannot fire (a stored spec this code refuses, a value
        Postgres refuses) spoils its batch: the batch is then done again with a
        savepoint per schedule, and that one is deferred. That costs a few round
        trips a schedule, so the usual pass goes set by set (``fire_batch``).
        """
        try:
            return self._pass(now, batch, careful=False)
        except JournalUnavailable:
            raise
        except ContinuumError:
            return self._pass(now, batch, careful=True)

    def _pass(self, now: datetime | None, batch: int, careful: bool) -> tuple[list[str], bool]:
        woken: list[str] = []
        with self.db.transaction() as conn:
            now = now or execute(conn, DB_NOW).scalar_one()
            params = {"now": now, "limit": batch, "scope": self.scope}
            rows = execute(conn, DUE_SCHEDULES, params).all()
            full, seen = len(rows) >= batch, {row.id for row in rows}
            buffered = execute(conn, BUFFERED_SCHEDULES, params)
            rows += [row for row in buffered if row.id not in seen]
            schedules = [schedule_record(row) for row in rows]
            if not careful:
                return fire_batch(conn, schedules, now), full
            for s in schedules:
                woken += self._fire_apart(conn, s, now)
        return woken, full

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
            applied = apply_steps(conn, s, outcome.steps, now, run_id, via)
            p = Plan([], outcome.buffered, outcome.skipped, outcome.dropped, 0, s.next_tick,
                     s.next_fire_at)  # fmt: skip
            save(conn, s, applied, p, (s.next_tick, s.next_fire_at))
        return applied.created, applied.woken


def _fire(conn: Connection, s: ScheduleRecord, now: datetime) -> list[str]:
    """Plan one schedule, start its runs, move its cursor; returns runs to wake."""
    p = plan(_due(conn, s, s.overlap), now)
    applied = apply_steps(conn, s, p.steps, now, _tick_id(s.id), "tick")
    if changed(s, p):  # a buffered schedule whose run is still open: no write
        save(conn, s, applied, p, (p.next_tick, p.next_fire_at))
    return applied.woken


def _tick_id(schedule_id: str) -> Callable[[datetime], str]:
    return lambda tick: tick_run_id(schedule_id, tick)


def _trigger_id(schedule_id: str, now: datetime) -> Callable[[datetime], str]:
    return lambda _tick: trigger_run_id(schedule_id, now)


def _due(conn: Connection, s: ScheduleRecord, overlap: str) -> Due:
    running = overlap != "allow_all" and s.last_run_id in open_runs(conn, [s.last_run_id])
    return due_of(s, overlap, running)
