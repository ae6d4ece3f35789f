"""Upkeep's cost grows with what is due, not with how many runs are parked.

Fills a database of its own with parked runs (waiting on a signal, on a far timer,
or finished) and checks that every upkeep query is planned on a partial index,
never as a sequential scan of the big tables, and that the index scan is bounded by
the time condition itself: no parked row is read only to be filtered out. Another
app's rows (another scope), due or not, are never read either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import TextClause, text

from continuum_celery.journal import queries as Q
from continuum_celery.journal import sweep, timer_firing
from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate
from tests.integration.databases import fresh_database

PARKED = 20_000

SCOPE = {"scope": "default"}
UPKEEP_QUERIES: dict[str, tuple[TextClause, dict[str, object]]] = {
    "due waits": (sweep.DUE_WAITS, {"limit": 500, **SCOPE}),
    "fire due waits": (timer_firing.FIRE_DUE_WAITS, {"limit": 500, **SCOPE}),
    "expired claims": (sweep.EXPIRED_CLAIMS, {"grace": 30.0, "limit": 500, **SCOPE}),
    "tasks to publish": (sweep.TASKS_TO_PUBLISH,
                         {"stale": 30.0, "cap": 300.0, "limit": 500, **SCOPE}),
    "runs to wake": (sweep.RUNS_TO_WAKE, {"stale": 5.0, "cap": 300.0, "limit": 500, **SCOPE}),
    "finished runs to delete": (sweep.DELETE_FINISHED_RUNS,
                                {"age": 30 * 86400.0, "limit": 500, **SCOPE}),
    "next wait": (Q.NEXT_WAIT_DUE_IN, SCOPE),
    "blocked runs": (Q.WAKE_BLOCKED, SCOPE),
}  # fmt: skip


@pytest.fixture(scope="module")
def parked_db(database_url: str) -> Iterator[Database]:
    with fresh_database(database_url, "cx_parked") as url:
        db = Database(url)
        migrate(db)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(_FILL.format(n=PARKED))
            conn.exec_driver_sql("ANALYZE")
        yield db
        db.dispose()


# Parked runs: a third wait on a signal, a third on a timer a year out, a third done
# (finished a week ago: inside any retention); the running third that waits on a timer
# was also started with a start time a day out; each has one completed activity task.
# Nothing of the default scope is due. Another app (scope 'other') has the same
# number of runs with everything overdue: a timer, an expired claim, a ready task
# never published, a stale wake marker, a finished run long past any retention;
# its upkeep is down, so they stay due, and the default scope's upkeep must not
# read them.
_FILL = """
INSERT INTO cx_runs (id, workflow, state, last_seq, wake_at, completed_at)
SELECT gen_random_uuid(), 'parked', CASE WHEN mod(g, 3) = 0 THEN 'completed' ELSE 'running' END, 3,
       CASE WHEN mod(g, 3) = 1 THEN now() + interval '1 day' END,
       CASE WHEN mod(g, 3) = 0 THEN now() - interval '7 days' END
FROM generate_series(1, {n}) g;
INSERT INTO cx_waits (run_id, command_id, kind, name, fires_at, resolved)
SELECT id, 'w:0', CASE WHEN random() < 0.5 THEN 'signal' ELSE 'timer' END, 'go',
       now() + interval '365 days', state = 'completed'
FROM cx_runs;
INSERT INTO cx_tasks (id, run_id, command_id, activity, timeout, retry, state, attempt)
SELECT gen_random_uuid(), id, 'a:0', 'parked.step', 60, '{{}}', 'completed', 1 FROM cx_runs;
INSERT INTO cx_runs (id, workflow, state, last_seq, wake_at, completed_at, scope)
SELECT 'other-' || g, 'overdue', CASE WHEN mod(g, 2) = 0 THEN 'completed' ELSE 'running' END, 3,
       CASE WHEN mod(g, 2) = 1 THEN now() - interval '1 hour' END,
       CASE WHEN mod(g, 2) = 0 THEN now() - interval '400 days' END, 'other'
FROM generate_series(1, {n}) g;
INSERT INTO cx_waits (run_id, command_id, kind, name, fires_at, scope)
SELECT id, 'w:0', 'timer', 't', now() - interval '1 hour', 'other'
FROM cx_runs WHERE scope = 'other' AND state = 'running';
INSERT INTO cx_tasks (id, run_id, command_id, activity, timeout, retry, state, attempt,
                      claim_expires_at, deadline_at, scope)
SELECT gen_random_uuid(), id, 'a:' || k, 'overdue.step', 60, '{{}}',
       CASE WHEN k = 0 THEN 'claimed' ELSE 'ready' END, 1,
       CASE WHEN k = 0 THEN now() - interval '1 hour' END,
       CASE WHEN k = 0 THEN now() - interval '1 hour' END, 'other'
FROM cx_runs, generate_series(0, 1) k WHERE scope = 'other' AND state = 'running';
UPDATE cx_runs SET state = 'blocked'
WHERE scope = 'other' AND state = 'running' AND mod(substr(id, 7)::int, 10) = 1;
"""


def seq_scans(node: dict[str, object]) -> list[str]:
    found = []
    if node.get("Node Type") == "Seq Scan":
        found.append(str(node.get("Relation Name")))
    for child in node.get("Plans", []):  # type: ignore[union-attr]
        found += seq_scans(child)  # type: ignore[arg-type]
    return found


@pytest.mark.parametrize("name", sorted(UPKEEP_QUERIES))
def test_upkeep_queries_never_scan_parked_rows(parked_db: Database, name: str) -> None:
    query, params = UPKEEP_QUERIES[name]
    with parked_db.engine.connect() as conn:  # EXPLAIN only plans: nothing is changed
        raw = conn.execute(text("EXPLAIN (FORMAT JSON) " + query.text), params).scalar_one()
    tree = raw[0]["Plan"]
    big = {"cx_runs", "cx_tasks", "cx_waits"}
    assert not big & set(seq_scans(tree)), f"{name} scans parked rows: {json.dumps(tree)[:800]}"


def rows_filtered_out(node: dict[str, object]) -> int:
    removed = int(node.get("Rows Removed by Filter", 0))  # type: ignore[call-overload]
    removed += int(node.get("Rows Removed by Index Recheck", 0))  # type: ignore[call-overload]
    loops = int(node.get("Actual Loops", 1))  # type: ignore[call-overload]
    total = removed * max(loops, 1)
    for child in node.get("Plans", []):  # type: ignore[union-attr]
        total += rows_filtered_out(child)  # type: ignore[arg-type]
    return total


@pytest.mark.parametrize("name", sorted(UPKEEP_QUERIES))
def test_upkeep_queries_read_only_what_is_due(parked_db: Database, name: str) -> None:
    query, params = UPKEEP_QUERIES[name]
    with parked_db.engine.connect() as conn:  # runs the query, then rolls it back
        explain = text("EXPLAIN (ANALYZE, FORMAT JSON) " + query.text)
        raw = conn.execute(explain, params).scalar_one()
        conn.rollback()
    tree = raw[0]["Plan"]
    assert rows_filtered_out(tree) < 50, f"{name} reads parked rows: {json.dumps(tree)[:1200]}"


def index_names(node: dict[str, Any]) -> set[str]:
    found = {str(node["Index Name"])} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        found |= index_names(child)
    return found


def test_retention_finds_finished_runs_through_their_index(parked_db: Database) -> None:
    """Only finished runs past the age are read, oldest first, from the partial index."""
    params = {"age": 86400.0, "limit": 500, **SCOPE}
    with parked_db.engine.connect() as conn:
        sql = text("EXPLAIN (ANALYZE, FORMAT JSON) " + sweep.DELETE_FINISHED_RUNS.text)
        tree = conn.execute(sql, params).scalar_one()[0]["Plan"]
        conn.rollback()
    assert "cx_runs_finished" in index_names(tree), json.dumps(tree)[:1200]
    assert "cx_runs" not in seq_scans(tree), json.dumps(tree)[:1200]
    assert rows_filtered_out(tree) < 50, json.dumps(tree)[:1200]
