"""Upkeep reads and writes: what is due, stuck or lost, found through partial indexes.

Each query touches only rows that need attention (due waits, expired claims,
unpublished tasks, runs with a wake marker), so a million parked runs cost
upkeep nothing. Each is also confined to one scope (``Continuum(scope=)``): the
indexes it reads lead with the scope, so another app's rows, due or parked, are
never read, and a sweep never touches another app's runs.
"""

from __future__ import annotations

from . import queries as Q
from .db import Database, execute
from .queries import q
from .records import DEFAULT_SCOPE, TaskMessage

# Upkeep compares with now(), the transaction's start: being stable, it can bound an
# index scan, where the volatile clock_timestamp() is only a filter applied to every
# parked row. Each upkeep step is its own short transaction, so now() is current.

# The due waits as upkeep reads them; firing them is ``timer_firing.FIRE_DUE_WAITS``
# (this read stays for the benchmarks' and tests' look at its plan).
DUE_WAITS = q(
    "SELECT run_id, command_id FROM cx_waits"
    " WHERE scope = :scope AND NOT resolved AND fires_at <= now()"
    " ORDER BY fires_at LIMIT :limit"
)
# Claims past their attempt's deadline, or not renewed for a whole grace period
# after lapsing (a live worker cut off by a database outage revives its claim
# within one TTL once the database is back; a dead one never does).
EXPIRED_CLAIMS = q(
    "SELECT id FROM cx_tasks WHERE scope = :scope AND state = 'claimed'"
    " AND claim_expires_at <= now()"
    " AND (deadline_at <= now()"
    " OR claim_expires_at <= now() - make_interval(secs => :grace))"
    " ORDER BY claim_expires_at LIMIT :limit"
)
# Ready tasks never published, published for an earlier attempt, or published long
# ago and still unclaimed (lost, or stuck behind a backlog): publish again, waiting
# twice as long after each copy so a slow queue is not flooded with duplicates.
TASKS_TO_PUBLISH = q(
    "UPDATE cx_tasks SET published_at = clock_timestamp(), publish_count = publish_count + 1"
    " WHERE id = ANY(ARRAY("
    " SELECT id FROM cx_tasks WHERE scope = :scope AND state = 'ready'"
    " AND available_at <= now()"
    " AND (published_at IS NULL OR published_at < available_at"
    " OR published_at <= now() - make_interval(secs =>"
    " LEAST(:stale * power(2, GREATEST(publish_count - 1, 0)), :cap)))"
    " ORDER BY available_at LIMIT :limit FOR UPDATE SKIP LOCKED))"
    " RETURNING id, run_id, activity, attempt, queue, priority, timeout"
)
# Runs with input no replay has seen for a while and no live lease: the advance
# message was lost, or the replay that took it died. Re-stamp so the next nudge waits.
# A run never published (a far eta, ``wake_nudges = -1``) is due at once.
# (``= ANY(ARRAY(...))`` keeps the update on the primary key instead of a join that
# would scan every parked run.)
RUNS_TO_WAKE = q(
    "UPDATE cx_runs SET wake_at = clock_timestamp(), wake_nudges = wake_nudges + 1"
    " WHERE id = ANY(ARRAY("
    " SELECT id FROM cx_runs WHERE scope = :scope AND wake_at <= now()"
    " AND wake_at <= now() - make_interval(secs => CASE WHEN wake_nudges < 0 THEN 0"
    " ELSE LEAST(:stale * power(2, wake_nudges), :cap) END)"
    " AND state IN ('running', 'blocked')"
    " AND (lease_owner IS NULL OR lease_expires_at <= now())"
    " ORDER BY wake_at LIMIT :limit FOR UPDATE SKIP LOCKED)) RETURNING id"
)

# Retention: the oldest finished runs past the age, with every row they own, in one
# statement (one transaction per batch). SKIP LOCKED, so two leaders never collide.
# Kept: a child whose parent is live (its parent still reads it), a parent with a
# live child, and a continued run while its chain has a live run (a handle follows
# the chain from its first run). Attempts go with the tasks they belong to. The
# owned rows are matched with ``= ANY(ARRAY(...))`` so each table is read through
# its run-id index, never hashed whole.
DELETE_FINISHED_RUNS = q(
    "WITH doomed AS (SELECT r.id FROM cx_runs r"
    " WHERE r.scope = :scope"
    " AND r.state IN ('completed', 'failed', 'cancelled', 'terminated', 'continued')"
    " AND r.completed_at < now() - make_interval(secs => :age)"
    " AND NOT EXISTS (SELECT 1 FROM cx_runs p WHERE p.id = r.parent_run_id"
    " AND p.state IN ('running', 'blocked'))"
    " AND NOT EXISTS (SELECT 1 FROM cx_runs c WHERE c.parent_run_id = r.id"
    " AND c.state IN ('running', 'blocked'))"
    " AND (r.state <> 'continued' OR NOT EXISTS (SELECT 1 FROM cx_runs t"
    " WHERE t.correlation_id = COALESCE(r.correlation_id, r.id)"
    " AND t.state IN ('running', 'blocked') AND t.correlation_id IS NOT NULL))"
    " ORDER BY r.completed_at LIMIT :limit FOR UPDATE OF r SKIP LOCKED),"
    " tasks AS (DELETE FROM cx_tasks WHERE run_id = ANY(ARRAY(SELECT id FROM doomed))"
    " RETURNING id),"
    " attempts AS (DELETE FROM cx_attempts WHERE task_id = ANY(ARRAY(SELECT id FROM tasks))),"
    " events AS (DELETE FROM cx_events WHERE run_id = ANY(ARRAY(SELECT id FROM doomed))),"
    " waits AS (DELETE FROM cx_waits WHERE run_id = ANY(ARRAY(SELECT id FROM doomed))),"
    " signals AS (DELETE FROM cx_signals WHERE run_id = ANY(ARRAY(SELECT id FROM doomed))),"
    " start_keys AS (DELETE FROM cx_start_keys WHERE run_id = ANY(ARRAY(SELECT id FROM doomed))),"
    " results AS (DELETE FROM cx_activity_results"
    " WHERE run_id = ANY(ARRAY(SELECT id FROM doomed))),"
    " audit AS (DELETE FROM cx_audit WHERE run_id = ANY(ARRAY(SELECT id FROM doomed)))"
    " DELETE FROM cx_runs WHERE id = ANY(ARRAY(SELECT id FROM doomed)) RETURNING id"
)


class SweepStore:
    def __init__(self, db: Database, scope: str = DEFAULT_SCOPE) -> None:
        self.db = db
        self.scope = scope
        """Every sweep reads and changes this scope's rows only. Upkeep work added
        later (bulk jobs, say) finds it here, as ``Sweeper.sweep.scope``."""

    def expired_claims(self, grace: float, limit: int) -> list[str]:
        with self.db.read() as conn:
            params = {"grace": grace, "limit": limit, "scope": self.scope}
            rows = execute(conn, EXPIRED_CLAIMS, params)
            return [str(r.id) for r in rows]

    def tasks_to_publish(self, stale_after: float, cap: float, limit: int) -> list[TaskMessage]:
        params = {"stale": stale_after, "cap": cap, "limit": limit, "scope": self.scope}
        with self.db.engine.begin() as conn:
            rows = execute(conn, TASKS_TO_PUBLISH, params)
            return [
                TaskMessage(
                    str(r.id),
                    str(r.run_id),
                    r.activity,
                    int(r.attempt),
                    r.queue,
                    r.priority,
                    float(r.timeout),
                )
                for r in rows
            ]

    def runs_to_wake(self, stale_after: float, cap: float, limit: int) -> list[str]:
        params = {"stale": stale_after, "cap": cap, "limit": limit, "scope": self.scope}
        with self.db.engine.begin() as conn:
            rows = execute(conn, RUNS_TO_WAKE, params)
            return [str(r.id) for r in rows]

    def wake_blocked(self) -> list[str]:
        """Every blocked run, due now: a worker with new code may have just started."""
        with self.db.engine.begin() as conn:
            return [str(r.id) for r in execute(conn, Q.WAKE_BLOCKED, {"scope": self.scope})]

    def delete_finished(self, older_than: float, limit: int) -> int:
        """Delete up to ``limit`` finished runs older than ``older_than`` seconds, with
        every row they own, in one transaction; returns how many runs went."""
        with self.db.engine.begin() as conn:
            params = {"age": older_than, "limit": limit, "scope": self.scope}
            rows = execute(conn, DELETE_FINISHED_RUNS, params)
            return len(rows.all())
