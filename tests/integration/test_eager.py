"""Eager continuation: the completing transaction also commits the next decisions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from continuum_celery.definitions import Activity, ActivityOptions
from continuum_celery.engine.commands import Decision
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from continuum_celery.journal import history, queries, waking
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import ClaimedTask, Lease, NewRun
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.tasks import TaskStore
from continuum_celery.runtime.live import SystemSources
from tests.integration.checks import assert_sound

step = Activity(lambda n: n, "eager.step", ActivityOptions())


def three_steps(n: int) -> int:
    return step(step(step(n) + 1) + 1)


def decide(lease: Lease) -> Decision:
    info = WorkflowInfo(lease.run_id, lease.workflow)
    return replay(three_steps, lease.args, lease.kwargs, lease.history, info, SystemSources())


@pytest.fixture(scope="module")
def stores(journal_db: Database) -> tuple[RunStore, TaskStore]:
    return RunStore(journal_db), TaskStore(journal_db)


def begin(runs: RunStore, tasks: TaskStore, parent: str | None = None) -> ClaimedTask:
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "eager.flow", [1], {},
                                      parent_run_id=parent))  # fmt: skip
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    runs.commit_decision(lease, decide(lease))
    return claim_next(runs, tasks, run_id)


def claim_next(runs: RunStore, tasks: TaskStore, run_id: str) -> ClaimedTask:
    task_id = [e for e in runs.history(run_id) if e.type == "activity_scheduled"][-1].data[
        "task_id"
    ]
    claim = tasks.claim(task_id, 1, "eager.step")
    assert isinstance(claim, ClaimedTask)
    return claim


def test_a_completion_commits_the_next_step_in_the_same_transaction(
    stores: tuple[RunStore, TaskStore],
) -> None:
    runs, tasks = stores
    claim = begin(runs, tasks)
    settled = tasks.complete(claim, 1, decide)
    assert settled.run_to_wake is None, "no wakeup hop"
    assert settled.commit is not None
    assert [m.activity for m in settled.commit.tasks] == ["eager.step"]
    assert [e.type for e in runs.history(claim.run_id)] == [
        "activity_scheduled",
        "activity_completed",
        "activity_scheduled",
    ]
    assert runs.get_run(claim.run_id).wake_at is None, "nothing left unseen"
    for result in (2, 3):
        settled = tasks.complete(claim_next(runs, tasks, claim.run_id), result, decide)
    assert runs.get_run(claim.run_id).state == "completed"
    assert runs.get_run(claim.run_id).result == 3
    assert_sound(runs.history(claim.run_id))


def test_a_run_leased_by_another_replay_is_left_to_it(
    stores: tuple[RunStore, TaskStore],
) -> None:
    runs, tasks = stores
    claim = begin(runs, tasks)
    calls: list[Any] = []
    with runs.db.engine.begin() as conn:  # another replay holds a live lease
        conn.execute(
            text(
                "UPDATE cx_runs SET lease_owner = 'other', lease_token = nextval('cx_token_seq'),"
                " lease_expires_at = clock_timestamp() + interval '30 s' WHERE id = :id"
            ),
            {"id": claim.run_id},
        )
    settled = tasks.complete(claim, 1, lambda lease: calls.append(lease) or decide(lease))
    assert calls == [] and settled.commit is None
    assert settled.run_to_wake == claim.run_id
    assert runs.get_run(claim.run_id).wake_at is not None, "the lease holder will replay"


def test_a_child_about_to_end_is_left_for_a_normal_replay(
    stores: tuple[RunStore, TaskStore],
) -> None:
    runs, tasks = stores
    parent_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "eager.parent", [], {}))
    claim = begin(runs, tasks, parent=parent_id)
    for result in (1, 2):
        tasks.complete(claim, result, decide)
        claim = claim_next(runs, tasks, claim.run_id)
    settled = tasks.complete(claim, 3, decide)
    assert settled.commit is None, "ending a child locks its parent first: not here"
    assert runs.get_run(claim.run_id).state == "running"
    assert settled.run_to_wake == claim.run_id


def test_a_wakeup_replays_in_one_transaction_without_a_lease(
    stores: tuple[RunStore, TaskStore], journal_db: Database
) -> None:
    runs, _ = stores
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "eager.flow", [1], {}))
    result = runs.wake_eagerly(run_id, decide)
    assert not isinstance(result, bool)
    assert [t.activity for t in result.tasks] == ["eager.step"]
    assert [e.type for e in runs.history(run_id)] == ["activity_scheduled"]
    assert runs.wake_eagerly(run_id, decide) is True  # nothing left to do: no marker
    with journal_db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT lease_token, lease_owner, wake_at FROM cx_runs WHERE id = :id"),
            {"id": run_id},
        ).one()
    assert (row.lease_token, row.lease_owner, row.wake_at) == (None, None, None)


def test_a_wakeup_leaves_a_leased_run_to_its_replay(stores: tuple[RunStore, TaskStore]) -> None:
    runs, _ = stores
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "eager.flow", [1], {}))
    lease = runs.acquire(run_id, "elsewhere")
    assert lease is not None
    assert runs.wake_eagerly(run_id, decide) is True
    assert runs.history(run_id) == []  # the lease holder decides, not this wakeup


def test_a_wakeup_without_the_code_takes_the_lease_path(stores: tuple[RunStore, TaskStore]) -> None:
    runs, _ = stores
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "eager.flow", [1], {}))
    assert runs.wake_eagerly(run_id, lambda lease: None) is False
    assert runs.history(run_id) == []


# --- what the completing statement brings along -----------------------------------------


def cache_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the history cache runs itself (a history or inputs read)."""
    reads: list[str] = []
    execute = history.execute

    def counted(conn: Any, statement: Any, params: Any = None) -> Any:
        reads.append("inputs" if statement is queries.RUN_INPUTS else "history")
        return execute(conn, statement, params)

    monkeypatch.setattr(history, "execute", counted)
    return reads


def test_a_completion_brings_what_the_worker_lacks_for_its_replay(
    journal_db: Database, stores: tuple[RunStore, TaskStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that never saw the run (the other pool process took the last step)
    gets the run's events and replay inputs with the completion: no read of its own."""
    runs, _ = stores
    fresh = TaskStore(journal_db)
    claim = begin(runs, fresh)
    reads = cache_reads(monkeypatch)
    settled = fresh.complete(claim, 1, decide)
    assert settled.commit is not None and reads == []
    assert fresh.histories.known(claim.run_id) == 3
    settled = fresh.complete(claim_next(runs, fresh, claim.run_id), 2, decide)
    assert settled.commit is not None and reads == []


def test_a_history_longer_than_a_replay_under_the_lock_reads_is_read_apart(
    journal_db: Database, stores: tuple[RunStore, TaskStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement brings at most ``SHORT_HISTORY`` events; the cache reads more
    itself, and the inputs still come along."""
    runs, _ = stores
    fresh = TaskStore(journal_db)
    claim = begin(runs, fresh)
    reads = cache_reads(monkeypatch)
    monkeypatch.setattr(waking, "SHORT_HISTORY", 0)
    settled = fresh.complete(claim, 1, decide)
    assert settled.commit is not None and reads == ["history"]
    assert [e.type for e in runs.history(claim.run_id)][-1] == "activity_scheduled"
