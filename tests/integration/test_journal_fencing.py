"""Fencing, gap-free appends and lost wakes, against the real journal (no worker).

These drive the journal operations directly, the way a replay or an activity
worker would, so each race can be staged exactly.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from continuum_celery import ClaimLost, LeaseLost, RetryPolicy, RunNotActive
from continuum_celery.definitions import Activity, ActivityOptions
from continuum_celery.engine.commands import Decision, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from continuum_celery.journal.audit import Actor
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import ClaimedTask, Lease, NewRun
from continuum_celery.journal.rows import mark_wake
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.tasks import AttemptError, TaskStore
from continuum_celery.runtime.live import SystemSources
from continuum_celery.workflow import gather
from tests.integration.checks import assert_sound


@pytest.fixture(scope="module")
def db(journal_db: Database) -> Database:
    return journal_db


@pytest.fixture
def runs(db: Database) -> RunStore:
    return RunStore(db, lease_ttl=30.0)


@pytest.fixture
def tasks(db: Database) -> TaskStore:
    return TaskStore(db)


step = Activity(lambda n: n, "journal.step", ActivityOptions(RetryPolicy(max_attempts=1)))


def two_steps(n: int) -> list[int]:
    first = step(n)
    return [first, step(n + 1)]


def parallel(width: int) -> list[int]:
    return gather(*[step.start(i) for i in range(width)])


def decide(lease: Lease, fn: Any) -> Decision:
    info = WorkflowInfo(lease.run_id, lease.workflow)
    return replay(fn, lease.args, lease.kwargs, lease.history, info, SystemSources())


def start(runs: RunStore, *args: Any) -> str:
    run_id, created = runs.start_run(NewRun(str(uuid.uuid4()), "journal.flow", list(args), {}))
    assert created
    return run_id


def expire_lease(db: Database, run_id: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE cx_runs SET lease_expires_at = clock_timestamp() - interval '1 s'"
                " WHERE id = :id"
            ),
            {"id": run_id},
        )


def expire_claim(db: Database, task_id: str, deadline_passed: bool = True) -> None:
    """Age a claim: past its attempt's deadline, or only lapsed (renewals stopped)."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE cx_tasks SET claim_expires_at = clock_timestamp() - interval '1 s',"
                " deadline_at = CASE WHEN :passed THEN clock_timestamp() - interval '1 s'"
                " ELSE deadline_at END WHERE id = :id"
            ),
            {"id": task_id, "passed": deadline_passed},
        )


def scheduled_task_ids(runs: RunStore, run_id: str) -> list[str]:
    return [e.data["task_id"] for e in runs.history(run_id) if e.type == "activity_scheduled"]


def test_a_stale_lease_writes_nothing(db: Database, runs: RunStore) -> None:
    run_id = start(runs, 1)
    stale = runs.acquire(run_id, "worker-a")
    assert stale is not None
    expire_lease(db, run_id)
    fresh = runs.acquire(run_id, "worker-b")
    assert fresh is not None and fresh.token > stale.token, "tokens only ever increase"

    with pytest.raises(LeaseLost):
        runs.commit_decision(stale, decide(stale, two_steps))
    assert runs.history(run_id) == [], "the rejected decision left no trace"

    result = runs.commit_decision(fresh, decide(fresh, two_steps))
    assert [m.activity for m in result.tasks] == ["journal.step"]
    assert [e.type for e in runs.history(run_id)] == ["activity_scheduled"]


def test_a_released_lease_cannot_write_again(runs: RunStore) -> None:
    run_id = start(runs, 1)
    lease = runs.acquire(run_id, "worker-a")
    assert lease is not None
    runs.commit_decision(lease, decide(lease, two_steps))  # suspends and releases
    with pytest.raises(LeaseLost):
        runs.commit_decision(lease, decide(lease, two_steps))
    assert len(runs.history(run_id)) == 1


def test_no_lease_without_pending_input(runs: RunStore) -> None:
    run_id = start(runs, 1)
    lease = runs.acquire(run_id, "worker-a")
    assert lease is not None
    assert runs.acquire(run_id, "worker-b") is None, "a live lease is never shared"
    runs.commit_decision(lease, decide(lease, two_steps))
    assert runs.acquire(run_id, "worker-b") is None, "nothing new to replay: no lease"


def claim_first(runs: RunStore, tasks: TaskStore, run_id: str) -> ClaimedTask:
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    runs.commit_decision(lease, decide(lease, two_steps))
    task_id = scheduled_task_ids(runs, run_id)[0]
    claim = tasks.claim(task_id, 1, "journal.step")
    assert isinstance(claim, ClaimedTask)
    return claim


def test_a_duplicate_delivery_claims_nothing(runs: RunStore, tasks: TaskStore) -> None:
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    again = tasks.claim(claim.task_id, 1, "journal.step")
    assert isinstance(again, str) and "claimed" in again
    tasks.complete(claim, 10)
    after = tasks.claim(claim.task_id, 1, "journal.step")
    assert isinstance(after, str) and "completed" in after
    history = runs.history(run_id)
    assert [e.type for e in history] == ["activity_scheduled", "activity_completed"]


def test_forged_claims_are_refused(runs: RunStore, tasks: TaskStore) -> None:
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    tasks.complete(claim, 1)
    unknown = tasks.claim(str(uuid.uuid4()), 1, "journal.step")
    assert isinstance(unknown, str) and "forged" in unknown
    wrong_activity = tasks.claim(claim.task_id, 1, "journal.other")
    assert isinstance(wrong_activity, str) and "forged" in wrong_activity


def test_a_stale_claim_cannot_complete(db: Database, runs: RunStore, tasks: TaskStore) -> None:
    run_id = start(runs, 1)
    stale = claim_first(runs, tasks, run_id)
    expire_claim(db, stale.task_id)
    settled = tasks.expire(stale.task_id, 0.5)
    assert settled is not None and settled.retry is None, "single attempt policy: no retry"
    history = runs.history(run_id)
    assert [e.type for e in history] == ["activity_scheduled", "activity_failed"]
    assert history[-1].data["error_type"] == "TimeoutError"

    with pytest.raises(ClaimLost):
        tasks.complete(stale, 99)
    assert runs.history(run_id) == history, "the late completion changed nothing"


def test_an_expired_claim_completing_is_settled_as_a_timeout(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    expire_claim(db, claim.task_id)
    settled = tasks.complete(claim, 5)
    assert not settled.accepted
    assert [e.type for e in runs.history(run_id)][-1] == "activity_failed"


def test_a_lapsed_claim_nobody_took_over_still_completes(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    expire_claim(db, claim.task_id, deadline_passed=False)
    assert tasks.expire(claim.task_id, 0.5) is None, "within the grace period: not lost yet"
    assert tasks.complete(claim, 5).accepted
    assert [e.type for e in runs.history(run_id)] == ["activity_scheduled", "activity_completed"]


def test_completion_for_a_terminated_run_is_rejected(runs: RunStore, tasks: TaskStore) -> None:
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    runs.terminate(run_id, Actor("tests", "a test stops it"))
    with pytest.raises(RunNotActive):
        tasks.complete(claim, 1)
    with pytest.raises(RunNotActive):
        tasks.fail(claim, AttemptError("ValueError", "x"), 0.5)
    assert [e.type for e in runs.history(run_id)] == ["activity_scheduled", "run_terminated"]


def test_an_event_landing_during_replay_forces_another_replay(
    runs: RunStore, tasks: TaskStore
) -> None:
    run_id = start(runs, 2)
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    runs.commit_decision(lease, decide(lease, parallel))
    first, second = (tasks.claim(t, 1, "journal.step") for t in scheduled_task_ids(runs, run_id))
    assert isinstance(first, ClaimedTask) and isinstance(second, ClaimedTask)
    tasks.complete(first, 0)  # the gather still needs the other: no wakeup for this one
    assert runs.get_run(run_id).wake_at is None
    with runs.db.engine.begin() as conn:  # other input, as a signal would mark it
        mark_wake(conn, run_id, 3)

    lease = runs.acquire(run_id, "replayer")  # reads [scheduled, scheduled, completed]
    assert lease is not None
    decision = decide(lease, parallel)
    assert isinstance(decision.outcome, Suspended), "still waiting on the second step"
    tasks.complete(second, 1)  # lands while that replay is in flight

    result = runs.commit_decision(lease, decision)
    assert result.again, "the replay missed an event, so it must run again"
    runs.refresh(lease)
    assert [e.seq for e in lease.history] == [1, 2, 3, 4]
    final = runs.commit_decision(lease, decide(lease, parallel))
    assert final.finished
    assert runs.get_run(run_id).result == [0, 1]


def test_a_parked_run_with_unseen_input_keeps_its_wake_marker(
    runs: RunStore, tasks: TaskStore
) -> None:
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    assert runs.get_run(run_id).wake_at is None, "parked with nothing new"
    tasks.complete(claim, 3)
    assert runs.get_run(run_id).wake_at is not None, "the completion left durable evidence"


def test_concurrent_completions_keep_seq_gap_free(runs: RunStore, tasks: TaskStore) -> None:
    run_id = start(runs, 8)
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    decision = decide(lease, parallel)
    assert isinstance(decision.outcome, Suspended) and len(decision.commands) == 8
    runs.commit_decision(lease, decision)
    claims = [tasks.claim(t, 1, "journal.step") for t in scheduled_task_ids(runs, run_id)]
    barrier = threading.Barrier(len(claims))

    def complete(claim: ClaimedTask | str) -> None:
        assert isinstance(claim, ClaimedTask)
        barrier.wait()
        tasks.complete(claim, claim.args[0])

    threads = [threading.Thread(target=complete, args=(c,)) for c in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = runs.history(run_id)
    assert len(history) == 16
    assert_sound(history)


def test_concurrent_starts_with_one_key_make_one_run(runs: RunStore) -> None:
    key = uuid.uuid4().hex
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(6)

    def start_once() -> None:
        barrier.wait()
        new = NewRun(str(uuid.uuid4()), "journal.flow", [], {}, idempotency_key=key)
        results.append(runs.start_run(new))

    threads = [threading.Thread(target=start_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
