"""Eager start: a start with the workflow's code commits the run with its first
decision, in one transaction, before any worker has seen it; the run then goes on
on a worker exactly as if a worker had made that decision."""

from __future__ import annotations

import importlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from continuum_celery import RunAlreadyExists, RunFailed
from tests.integration.checks import assert_sound, types
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.integration.apps.starts"


@pytest.fixture(scope="module")
def starts_db(database_url: str) -> Iterator[str]:
    """A database of its own: no other worker's upkeep may touch these runs."""
    with fresh_database(database_url, "cx_starts") as url:
        yield url


@pytest.fixture(scope="module")
def starts(starts_db: str, broker_url: str) -> ModuleType:
    os.environ["STARTS_DATABASE_URL"] = starts_db
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(APP)
    module.cx.migrate()
    purge(module)
    return module


def start_worker(starts_db: str, broker_url: str, factory: WorkerFactory) -> WorkerProcess:
    env = {"STARTS_DATABASE_URL": starts_db, "CELERY_BROKER_URL": broker_url}
    return factory(APP, concurrency=2, queues=["starts"], env=env)


def purge(starts: ModuleType) -> None:
    """Drop every message on the queue: as if the broker had lost them."""
    with starts.app.connection_for_write() as conn:
        conn.default_channel.queue_purge(starts.QUEUE)


def rows(starts: ModuleType, sql: str, **params: Any) -> list[Any]:
    with starts.cx.db.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def run_row(starts: ModuleType, run_id: str) -> Any:
    sql = "SELECT state, wake_at, lease_token, xmin::text AS xid FROM cx_runs WHERE id = :id"
    return rows(starts, sql, id=run_id)[0]


def writers(starts: ModuleType, run_id: str) -> set[str]:
    """The transactions that wrote the run's rows (run, events, tasks, waits)."""
    sql = (
        "SELECT xmin::text FROM cx_runs WHERE id = :id"
        " UNION SELECT xmin::text FROM cx_events WHERE run_id = :id"
        " UNION SELECT xmin::text FROM cx_tasks WHERE run_id = :id"
        " UNION SELECT xmin::text FROM cx_waits WHERE run_id = :id"
    )
    return {r[0] for r in rows(starts, sql, id=run_id)}


def task_states(starts: ModuleType, run_id: str) -> list[str]:
    return [r[0] for r in rows(starts, "SELECT state FROM cx_tasks WHERE run_id = :id", id=run_id)]


def assert_waits_for_a_wakeup(starts: ModuleType, run_id: str) -> None:
    """Today's path: the run alone, with its wake marker, nothing decided yet."""
    assert starts.cx.history(run_id) == []
    assert task_states(starts, run_id) == []
    assert run_row(starts, run_id).wake_at is not None


# --- before any worker ----------------------------------------------------------------


def test_a_start_commits_the_run_with_its_first_activity_in_one_transaction(
    starts: ModuleType,
) -> None:
    handle = starts.one_step.delay(21)
    run = run_row(starts, handle.run_id)
    assert types(handle.history()) == ["activity_scheduled"]
    assert task_states(starts, handle.run_id) == ["ready"], "claimable by any worker"
    assert run.wake_at is None and run.lease_token is None, "no wakeup, no lease left"
    assert writers(starts, handle.run_id) == {run.xid}, "run, event and task: one commit"


def test_a_duplicate_wakeup_of_an_eager_start_does_nothing(starts: ModuleType) -> None:
    handle = starts.one_step.delay(1)
    before = run_row(starts, handle.run_id)
    for _ in range(3):
        assert starts.cx.advancer.advance(handle.run_id) is False
    assert types(handle.history()) == ["activity_scheduled"]
    assert run_row(starts, handle.run_id) == before, "not even a lease was taken"


def test_a_workflow_without_activities_ends_in_its_start(starts: ModuleType) -> None:
    handle = starts.no_activity.delay(41)
    assert handle.state == "completed"
    assert handle.result(timeout=1) == 42
    assert handle.history() == []


def test_a_timer_is_started_with_the_run(starts: ModuleType) -> None:
    handle = starts.timer.delay(0.2)
    assert types(handle.history()) == ["timer_started"]
    waits = rows(starts, "SELECT kind, fires_at FROM cx_waits WHERE run_id = :id", id=handle.run_id)
    assert [w.kind for w in waits] == ["timer"] and waits[0].fires_at is not None
    assert len(writers(starts, handle.run_id)) == 1


def test_a_start_by_name_waits_for_a_worker(starts: ModuleType) -> None:
    handle = starts.cx.start("starts.one_step", 3)
    assert_waits_for_a_wakeup(starts, handle.run_id)


def test_a_start_with_an_eta_waits_for_its_time(starts: ModuleType) -> None:
    handle = starts.one_step.apply_async((4,), eta=datetime.now(UTC) + timedelta(seconds=1))
    assert_waits_for_a_wakeup(starts, handle.run_id)


def test_a_first_replay_the_guard_refuses_is_left_to_a_worker(starts: ModuleType) -> None:
    handle = starts.clocked.delay()
    assert_waits_for_a_wakeup(starts, handle.run_id)
    assert handle.state == "running"


def test_a_repeated_start_returns_the_run_and_writes_nothing(starts: ModuleType) -> None:
    run_id = f"again-{uuid.uuid4().hex}"
    first = starts.one_step.apply_async((5,), run_id=run_id)
    again = starts.one_step.apply_async((5,), run_id=run_id)
    assert again.run_id == first.run_id == run_id
    assert task_states(starts, run_id) == ["ready"]
    assert types(first.history()) == ["activity_scheduled"]
    with pytest.raises(RunAlreadyExists):
        starts.one_step.apply_async((6,), run_id=run_id)
    key = uuid.uuid4().hex
    by_key = starts.one_step.apply_async((7,), idempotency_key=key)
    assert starts.one_step.apply_async((7,), idempotency_key=key).run_id == by_key.run_id
    assert task_states(starts, by_key.run_id) == ["ready"]


def test_a_child_started_by_the_first_decision_waits_for_its_wakeup(starts: ModuleType) -> None:
    handle = starts.parent.delay(2)
    [started] = handle.history()
    assert started.type == "child_started"
    child = started.data["child_run_id"]
    assert run_row(starts, child).wake_at is not None, "the child is woken after the commit"
    assert starts.cx.history(child) == []
    assert writers(starts, handle.run_id) == writers(starts, child), "one transaction"


def test_a_run_that_continues_at_once_hands_over_in_its_start(starts: ModuleType) -> None:
    handle = starts.hops.delay(1)
    run = starts.cx.get_run(handle.run_id)
    assert run.state == "continued" and run.next_run_id is not None
    assert_waits_for_a_wakeup(starts, run.next_run_id)


def test_a_workflow_that_fails_at_once_fails_in_its_start(starts: ModuleType) -> None:
    handle = starts.fails.delay("no")
    with pytest.raises(RunFailed, match="ValueError: no"):
        handle.result(timeout=1)


# --- then workers -----------------------------------------------------------------------


def test_runs_started_eagerly_finish_on_a_worker(
    starts: ModuleType, starts_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    handles = [starts.one_step.delay(n) for n in range(10)]
    by_name = starts.cx.start("starts.one_step", 100)
    timer = starts.timer.delay(0.3)
    parent = starts.parent.delay(5)
    hops = starts.hops.delay(3)
    start_worker(starts_db, broker_url, worker_factory)
    assert parent.result(timeout=30) == 11
    assert hops.result(timeout=30) == "landed"
    assert [h.result(timeout=30) for h in handles] == [2 * n for n in range(10)]
    assert by_name.result(timeout=30) == 200
    assert timer.result(timeout=30) == 0.3
    for handle in [*handles, by_name]:
        assert types(handle.history()) == ["activity_scheduled", "activity_completed"]
        assert_sound(handle.history())
    for handle in handles:
        assert run_row(starts, handle.run_id).lease_token is None, "never leased by a wakeup"


def test_a_start_whose_message_was_lost_is_recovered_by_upkeep(
    starts: ModuleType, starts_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    handle = starts.one_step.delay(8)
    purge(starts)
    start_worker(starts_db, broker_url, worker_factory)
    assert handle.result(timeout=30) == 16
    assert_sound(handle.history())


def test_a_worker_killed_in_the_first_activity_is_taken_over_after_restart(
    starts: ModuleType, starts_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    handle = starts.napping.delay(1.5)
    worker = start_worker(starts_db, broker_url, worker_factory)
    deadline = time.monotonic() + 20
    while task_states(starts, handle.run_id) != ["claimed"]:
        assert time.monotonic() < deadline, "the activity was never claimed"
        time.sleep(0.05)
    worker.kill()
    start_worker(starts_db, broker_url, worker_factory)
    assert handle.result(timeout=40) == 1.5
    assert types(handle.history())[-1] == "activity_completed"
    assert_sound(handle.history())
