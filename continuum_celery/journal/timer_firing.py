"""Firing due waits (timers, signal timeouts) set by set, in one transaction.

One transaction per timer, plus a read to find them and another to learn when the
next one fires, kept the upkeep leader a few round trips behind whenever timers
came due faster than it could commit them one by one: at a few hundred timers a
second they fired hundreds of milliseconds late. Here one statement fires every
due wait it can lock and the same transaction reads when the next one is due.

Exactly-once is unchanged: a wait is resolved together with its ``timer_fired``
event, under the run's row lock. Rows another transaction holds are skipped, not
waited for (``SKIP LOCKED``), so a run busy in a long replay never holds up the
others' timers; its wait is still due and is fired on the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import queries as Q
from .db import Database, execute
from .queries import q

# Waits of runs that ended are resolved with no event (nothing will replay them).
# Several waits of one run due together get consecutive seqs after its last one.
# The updates find their rows by key (= ANY(ARRAY(...))): joined to a CTE the
# planner cannot size, they would be planned as scans of every parked row.
FIRE_DUE_WAITS = q(
    "WITH due AS (SELECT w.run_id, w.command_id, w.fires_at, r.last_seq,"
    " r.state IN ('running', 'blocked') AS active"
    " FROM cx_waits w JOIN cx_runs r ON r.id = w.run_id"
    " WHERE w.scope = :scope AND NOT w.resolved AND w.fires_at <= now()"
    " ORDER BY w.fires_at LIMIT :limit FOR UPDATE OF w, r SKIP LOCKED),"
    " fired AS (SELECT run_id, command_id, last_seq + row_number() OVER"
    " (PARTITION BY run_id ORDER BY fires_at, command_id) AS seq FROM due WHERE active),"
    " resolved AS (UPDATE cx_waits w SET resolved = true"
    " WHERE w.run_id = ANY(ARRAY(SELECT run_id FROM due))"
    " AND (w.run_id, w.command_id) IN (SELECT run_id, command_id FROM due)),"
    " events AS (INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " SELECT run_id, seq, 'timer_fired', command_id, jsonb_build_object('timer_id', command_id)"
    " FROM fired),"
    " marked AS (UPDATE cx_runs r SET last_seq = f.seq,"
    " wake_at = COALESCE(r.wake_at, clock_timestamp())"
    " FROM (SELECT run_id, max(seq) AS seq FROM fired GROUP BY run_id) f"
    " WHERE r.id = ANY(ARRAY(SELECT run_id FROM fired)) AND r.id = f.run_id)"
    " SELECT run_id, command_id FROM fired ORDER BY run_id, seq"
)


@dataclass(frozen=True)
class Fired:
    waits: list[tuple[str, str]]
    """(run id, command id) of each wait fired, a run's in journal order."""
    next_due_in: float | None
    """Seconds from the commit until the earliest wait or schedule still open is due
    (negative: one is overdue, say it was locked); None when none has a time."""


def fire_due_waits(db: Database, scope: str, limit: int) -> Fired:
    """Fire up to ``limit`` due waits of ``scope`` and read when the next is due."""
    params = {"scope": scope, "limit": limit}
    with db.transaction() as conn:
        rows = execute(conn, FIRE_DUE_WAITS, params).all()
        seconds = execute(conn, Q.NEXT_WAIT_DUE_IN, {"scope": scope}).scalar()
    waits = [(str(r.run_id), str(r.command_id)) for r in rows]
    return Fired(waits, None if seconds is None else float(seconds))
