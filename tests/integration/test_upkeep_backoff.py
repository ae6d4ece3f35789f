"""Upkeep re-publishes lost work, backing off so a slow queue is not flooded."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import NewRun
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.sweep import SweepStore
from continuum_celery.runtime.live import SystemSources
from continuum_celery.workflow import wait_signal


@pytest.fixture(scope="module")
def db(journal_db: Database) -> Database:
    return journal_db


def age_marker(db: Database, run_id: str, seconds: float) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE cx_runs SET wake_at = clock_timestamp() - make_interval(secs => :s)"
                 " WHERE id = :id"),
            {"s": seconds, "id": run_id},
        )  # fmt: skip


def nudged(sweep: SweepStore, run_id: str) -> bool:
    return run_id in sweep.runs_to_wake(stale_after=1.0, cap=300.0, limit=10_000)


def test_each_wakeup_nudge_waits_twice_as_long(db: Database) -> None:
    runs, sweep = RunStore(db), SweepStore(db)
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "backoff.flow", [], {}))
    age_marker(db, run_id, 1.5)
    assert nudged(sweep, run_id), "first nudge after 1 s"
    assert not nudged(sweep, run_id), "re-stamped: not again right away"
    age_marker(db, run_id, 1.5)
    assert not nudged(sweep, run_id), "the second nudge waits 2 s"
    age_marker(db, run_id, 2.5)
    assert nudged(sweep, run_id)
    age_marker(db, run_id, 3.5)
    assert not nudged(sweep, run_id), "the third waits 4 s"
    age_marker(db, run_id, 4.5)
    assert nudged(sweep, run_id)


def nudges(db: Database, run_id: str) -> int:
    with db.engine.begin() as conn:
        query = text("SELECT wake_nudges FROM cx_runs WHERE id = :id")
        return int(conn.execute(query, {"id": run_id}).scalar_one())


def test_a_replay_that_catches_up_resets_the_backoff(db: Database) -> None:
    runs, sweep = RunStore(db), SweepStore(db)
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "backoff.flow", [], {}))
    for _ in range(3):
        age_marker(db, run_id, 100)
        assert nudged(sweep, run_id)
    assert nudges(db, run_id) == 3
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    info = WorkflowInfo(run_id, "backoff.flow")
    decision = replay(lambda: wait_signal("go"), [], {}, lease.history, info, SystemSources())
    assert not runs.commit_decision(lease, decision).again
    assert nudges(db, run_id) == 0
    assert runs.get_run(run_id).wake_at is None
