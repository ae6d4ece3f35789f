"""Seeding: N finished-looking runs with what each owns, written by set-based SQL.

The rows are what a one-activity workflow leaves behind: the run, four journal
events, its activity task and that task's attempt. Written in chunks of
``CHUNK`` runs by ``INSERT ... SELECT`` over ``generate_series``, so 1,000,000 runs
take minutes, not hours. Every value is a bind parameter; the text is fixed.

The mix: ``WORKFLOWS`` workflows ``flow.0``..; 95% completed, 3% failed, 1%
cancelled, 1% still running (parked); ``CUSTOMERS`` customers as the ``customer``
search attribute; created evenly over the last ``DAYS`` days, newest last (as a
live system appends them), finished 1-600 s after they started.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, text

WORKFLOWS = 20
CUSTOMERS = 500
DAYS = 30
CHUNK = 100_000

# g is the run number, 1..n; run n is the newest. h spreads states over the runs.
RUNS = text(
    "INSERT INTO cx_runs (id, workflow, state, attributes, created_at, completed_at,"
    " last_seq, args)"
    " SELECT 'run-' || lpad(g::text, 9, '0'), 'flow.' || (g % :workflows),"
    " CASE WHEN h < 3 THEN 'failed' WHEN h < 4 THEN 'cancelled' WHEN h < 5 THEN 'running'"
    " ELSE 'completed' END,"
    " jsonb_build_object('customer', 'c-' || (abs(hashint8(g)) % :customers), 'region',"
    " 'eu-' || (g % 3)),"
    " t, CASE WHEN h >= 5 OR h < 4 THEN t + make_interval(secs => 1 + g % 600) END, 4,"
    " jsonb_build_array(g)"
    " FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g,"
    " LATERAL (SELECT (g * 2654435761) % 100 AS h,"
    " now() - make_interval(secs => :span * (:n - g) / CAST(:n AS float8)) AS t) x"
)
EVENTS = text(
    "INSERT INTO cx_events (run_id, seq, type, command_id, data, created_at)"
    " SELECT r.id, e.seq, e.type, e.command_id, e.data, r.created_at"
    " FROM cx_runs r, LATERAL (VALUES"
    " (1, 'workflow_started', NULL, jsonb_build_object('args', r.args)),"
    " (2, 'activity_scheduled', 'a:1', '{\"activity\": \"flow.step\"}'::jsonb),"
    " (3, 'activity_completed', 'a:1', '{\"result\": 1}'::jsonb),"
    " (4, CASE r.state WHEN 'failed' THEN 'workflow_failed' WHEN 'running' THEN"
    " 'workflow_log' ELSE 'workflow_completed' END, NULL, '{}'::jsonb))"
    " AS e(seq, type, command_id, data)"
    " WHERE r.id BETWEEN :low AND :high"
)
TASKS = text(
    "INSERT INTO cx_tasks (id, run_id, command_id, activity, timeout, retry, state, attempt,"
    " published_at, created_at)"
    " SELECT gen_random_uuid(), r.id, 'a:1', 'flow.step', 60, '{}', 'completed', 1,"
    " r.created_at, r.created_at"
    " FROM cx_runs r WHERE r.id BETWEEN :low AND :high"
)
ATTEMPTS = text(
    "INSERT INTO cx_attempts (task_id, attempt, claim_token, outcome, started_at, finished_at)"
    " SELECT t.id, 1, 1, 'completed', t.created_at, t.created_at + interval '5 ms'"
    " FROM cx_tasks t WHERE t.run_id BETWEEN :low AND :high"
)
COUNTS = text(
    "SELECT (SELECT count(*) FROM cx_runs), (SELECT count(*) FROM cx_events),"
    " (SELECT count(*) FROM cx_tasks), (SELECT count(*) FROM cx_attempts)"
)


def run_id(g: int) -> str:
    """The id the seeder gives run number ``g`` (as ``RUNS`` spells it)."""
    return f"run-{g:09d}"


def seed_chunk(engine: Engine, n: int, first: int, last: int) -> None:
    """Runs ``first``..``last`` of ``n`` and what they own, in one transaction."""
    span = {"low": run_id(first), "high": run_id(last)}
    params = {"first": first, "last": last, "n": n, "span": DAYS * 86400.0,
              "workflows": WORKFLOWS, "customers": CUSTOMERS}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(RUNS, params)
        for statement in (EVENTS, TASKS, ATTEMPTS):
            conn.execute(statement, span)


def seed(engine: Engine, n: int, log: Callable[[str], None]) -> dict[str, float]:
    """Seed ``n`` runs, then VACUUM ANALYZE: the planner sees the real table."""
    started = time.monotonic()
    for first in range(1, n + 1, CHUNK):
        seed_chunk(engine, n, first, min(first + CHUNK - 1, n))
        log(f"seeded {min(first + CHUNK - 1, n):,} / {n:,} runs")
    inserted = time.monotonic() - started
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM (ANALYZE)"))
        runs, events, tasks, attempts = conn.execute(COUNTS).one()
    total = time.monotonic() - started
    return {"runs": runs, "events": events, "tasks": tasks, "attempts": attempts,
            "insert_s": round(inserted, 1), "total_s": round(total, 1)}  # fmt: skip
