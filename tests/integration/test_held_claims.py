"""Claims held in an open transaction, against the real journal (no worker).

A delivered attempt is claimed in a transaction that stays open while its body
runs and is settled in it (one commit). These stage what can happen meanwhile:
duplicate deliveries, a holder whose transaction dies, a run that ends, promotion.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from continuum_celery import ClaimLost
from continuum_celery.journal.audit import Actor
from continuum_celery.journal.db import Database
from continuum_celery.journal.held import HeldClaim
from continuum_celery.journal.records import ClaimedTask
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.tasks import TaskStore
from tests.integration.checks import assert_sound
from tests.integration.test_eager import cache_reads
from tests.integration.test_journal_fencing import (
    decide,
    parallel,
    scheduled_task_ids,
    start,
    two_steps,
)


@pytest.fixture(scope="module")
def db(journal_db: Database) -> Database:
    return journal_db


@pytest.fixture
def runs(db: Database) -> RunStore:
    return RunStore(db, lease_ttl=30.0)


@pytest.fixture
def tasks(db: Database) -> TaskStore:
    return TaskStore(db)


def first_task(runs: RunStore) -> tuple[str, str]:
    run_id = start(runs, 1)
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    runs.commit_decision(lease, decide(lease, two_steps))
    return run_id, scheduled_task_ids(runs, run_id)[0]


def hold(tasks: TaskStore, task_id: str) -> HeldClaim:
    held = tasks.hold(task_id, 1, "journal.step", "worker-a")
    assert isinstance(held, HeldClaim)
    return held


def task_row(db: Database, task_id: str) -> tuple[str, int, int]:
    with db.engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT state, attempt, (SELECT count(*) FROM cx_attempts a"
                " WHERE a.task_id = t.id) FROM cx_tasks t WHERE id = :id"
            ),
            {"id": task_id},
        ).one()
    return str(row[0]), int(row[1]), int(row[2])


def test_a_held_claim_commits_nothing_until_it_settles_once(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    run_id, task_id = first_task(runs)
    held = hold(tasks, task_id)
    assert task_row(db, task_id) == ("ready", 1, 0), "nothing of the claim is committed"
    duplicate = tasks.hold(task_id, 1, "journal.step")
    assert isinstance(duplicate, str) and "held by another delivery" in duplicate

    settled = tasks.complete(held.claim, 10, held=held)
    assert settled.accepted
    assert task_row(db, task_id) == ("completed", 1, 1)
    after = tasks.hold(task_id, 1, "journal.step")
    assert isinstance(after, str) and "completed" in after
    history = runs.history(run_id)
    assert [e.type for e in history] == ["activity_scheduled", "activity_completed"]
    assert_sound(history)


def test_an_ordinary_claim_is_refused_while_another_delivery_holds_the_attempt(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    """A duplicate that claims durably (say, on a worker process with no timing
    history for the activity) must not run the body beside the holder."""
    run_id, task_id = first_task(runs)
    held = hold(tasks, task_id)
    duplicate = tasks.claim(task_id, 1, "journal.step", "worker-b")
    assert isinstance(duplicate, str), "the duplicate claimed the held attempt"
    assert task_row(db, task_id) == ("ready", 1, 0)
    assert tasks.complete(held.claim, 10, held=held).accepted
    late = tasks.claim(task_id, 1, "journal.step", "worker-b")
    assert isinstance(late, str) and "completed" in late
    assert [e.type for e in runs.history(run_id)] == ["activity_scheduled", "activity_completed"]


def test_a_holder_whose_transaction_died_cannot_complete_once_retaken(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    """The holder's session ends (killed, or idle past the TTL): the task is ready at
    the same attempt, a redelivery claims it, and the first holder writes nothing."""
    run_id, task_id = first_task(runs)
    lost = hold(tasks, task_id)
    lost.release()  # as if the connection died: its transaction rolled back
    retaken = hold(tasks, task_id)
    promoted = retaken.promote()
    assert isinstance(promoted, ClaimedTask) and promoted.claim_token > 0
    assert task_row(db, task_id) == ("claimed", 1, 1)

    with pytest.raises(ClaimLost):
        tasks.complete(lost.claim, 99, held=lost)
    assert tasks.complete(promoted, 7).accepted
    history = runs.history(run_id)
    assert [e.type for e in history] == ["activity_scheduled", "activity_completed"]
    assert history[-1].data["result"] == 7


def test_a_promoted_claim_is_an_ordinary_claim(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    run_id, task_id = first_task(runs)
    held = hold(tasks, task_id)
    claim = held.promote()
    assert claim is not None and held.promote() == claim, "promoted once"
    assert task_row(db, task_id) == ("claimed", 1, 1)
    assert tasks.renew(claim) is None
    again = tasks.claim(task_id, 1, "journal.step")
    assert isinstance(again, str) and "claimed" in again
    assert tasks.complete(claim, 3, held=held).accepted
    assert [e.type for e in runs.history(run_id)][-1] == "activity_completed"


def test_a_run_ended_while_an_attempt_was_held_fences_it_out(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    """Ending the run cancels the task without waiting on the holder (it holds no row
    lock an update waits for), and the held completion then writes nothing."""
    run_id, task_id = first_task(runs)
    held = hold(tasks, task_id)
    runs.terminate(run_id, Actor("tests", "a test stops it"))
    assert task_row(db, task_id)[0] == "cancelled"
    with pytest.raises(ClaimLost):
        tasks.complete(held.claim, 1, held=held)
    assert [e.type for e in runs.history(run_id)][-1] == "run_terminated"


def test_a_frozen_holder_loses_its_session_and_the_attempt_is_retaken(
    db: Database, runs: RunStore
) -> None:
    """The holding session may sit idle in its transaction for the claim TTL only:
    a holder frozen past it (SIGSTOP, before its first renewal) loses the session,
    the lock with it, and anything it then tries is fenced out."""
    tasks = TaskStore(db, claim_ttl=1.0)
    run_id, task_id = first_task(runs)
    frozen = hold(tasks, task_id)
    refused = tasks.hold(task_id, 1, "journal.step")
    assert isinstance(refused, str) and "held by another delivery" in refused
    time.sleep(1.6)  # Postgres ends the idle session after 1 s

    retaken = hold(tasks, task_id)
    assert tasks.complete(retaken.claim, 5, held=retaken).accepted
    with pytest.raises(ClaimLost):
        tasks.complete(frozen.claim, 99, held=frozen)
    history = runs.history(run_id)
    assert [e.type for e in history] == ["activity_scheduled", "activity_completed"]
    assert history[-1].data["result"] == 5


def test_a_held_completion_brings_the_history_and_inputs_for_the_replay(
    db: Database, runs: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The completing statement of a held claim also brings what this worker's
    cache lacks, so the eager replay after it reads nothing itself."""
    _, task_id = first_task(runs)
    fresh = TaskStore(db)
    held = hold(fresh, task_id)
    reads = cache_reads(monkeypatch)
    settled = fresh.complete(held.claim, 10, lambda lease: decide(lease, two_steps), held=held)
    assert settled.commit is not None and reads == []
    assert [m.activity for m in settled.commit.tasks] == ["journal.step"]


def test_held_completions_a_gather_still_waits_beside_are_absorbed(
    db: Database, runs: RunStore, tasks: TaskStore
) -> None:
    """Like an ordinary claim's: each appends its event and counts the run's
    ``awaiting`` down, with no replay and no other write; the last one replays."""
    run_id = start(runs, 3)
    lease = runs.acquire(run_id, "replayer")
    assert lease is not None
    runs.commit_decision(lease, decide(lease, parallel))
    replayed = []

    def replay(lease: Any) -> Any:
        replayed.append(lease.last_seq)
        return decide(lease, parallel)

    for number, task_id in enumerate(scheduled_task_ids(runs, run_id)):
        held = hold(tasks, task_id)
        settled = tasks.complete(held.claim, number, replay, held=held)
        assert settled.accepted and settled.run_to_wake is None
        assert (settled.commit is None) == (number < 2), "absorbed, absorbed, replayed"
        if number < 2:
            assert awaiting(db, run_id) == 2 - number
    assert replayed == [6], "one replay, by the last completion"
    assert runs.get_run(run_id).state == "completed" and runs.get_run(run_id).result == [0, 1, 2]
    assert_sound(runs.history(run_id))


def awaiting(db: Database, run_id: str) -> int | None:
    with db.engine.begin() as conn:
        value = conn.execute(text("SELECT awaiting FROM cx_runs WHERE id = :id"),
                             {"id": run_id}).scalar()  # fmt: skip
    return None if value is None else int(value)
