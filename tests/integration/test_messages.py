"""Celery messages are only hints: duplicates do nothing, forgeries run nothing."""

from __future__ import annotations

import time
import uuid
from types import ModuleType

import pytest
from sqlalchemy import text

from continuum_celery.celery_app.tasks import ADVANCE, ADVANCE_MANY, WAKE_BATCH
from continuum_celery.journal.records import TaskMessage
from tests.integration.checks import assert_sound, types
from tests.integration.harness import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def scheduled_message(flows: ModuleType, run_id: str) -> TaskMessage:
    event = next(e for e in flows.cx.history(run_id) if e.type == "activity_scheduled")
    return TaskMessage(event.data["task_id"], run_id, event.data["activity"], 1, None, None, 60.0)


def test_the_same_activity_message_delivered_again_has_one_effect(flows: ModuleType) -> None:
    key = uuid.uuid4().hex
    handle = flows.slow_single.delay(key, 1.0)
    wait_for(lambda: flows.calls(key) == 1, what="the first execution to start")
    message = scheduled_message(flows, handle.run_id)
    for _ in range(3):  # while the first delivery is still running
        flows.cx.publisher.publish_activity(message)
    assert handle.result(timeout=30) == "done"
    for _ in range(3):  # and after it completed
        flows.cx.publisher.publish_activity(message)
        flows.cx.publisher.publish_advance(handle.run_id)
    time.sleep(1.5)
    assert flows.calls(key) == 1, "the body ran once"
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["activity_scheduled", "activity_completed"]


def test_forged_and_garbled_messages_run_nothing(flows: ModuleType, worker: WorkerProcess) -> None:
    key = uuid.uuid4().hex
    handle = flows.slow_single.delay(key, 0.0)
    assert handle.result(timeout=30) == "done"
    real = scheduled_message(flows, handle.run_id)
    before = handle.history()
    ignored_before = worker.log().count("ignored")
    send = flows.app.send_task
    counted = "tests.integration.apps.flows.counted"
    send(counted, args=[str(uuid.uuid4()), 1])  # a task that does not exist
    send("tests.integration.apps.flows.add", args=[real.task_id, 1])  # another activity's task
    send(counted, args=[real.task_id, 2])  # an attempt that was never scheduled
    send(counted, args=["not-a-uuid", "one"])  # garbage
    send(counted, args=[], kwargs={"evil": True})
    send(ADVANCE, args=["'; DROP TABLE cx_runs; --"])  # a run id no run has
    send(ADVANCE, args=[str(uuid.uuid4())])
    send(ADVANCE, args=["x" * 201])  # no run id is that long
    send(ADVANCE, args=["two\nlines"])
    send(ADVANCE, args=[42])
    send(ADVANCE_MANY, args=[handle.run_id])  # not a list
    send(ADVANCE_MANY, args=[[]])
    send(ADVANCE_MANY, args=[[handle.run_id, 42]])  # one bad id spoils the message
    send(ADVANCE_MANY, args=[[handle.run_id] * (WAKE_BATCH + 1)])  # too many
    send(ADVANCE_MANY, args=[[handle.run_id]], kwargs={"evil": True})
    send(ADVANCE_MANY, args=[[str(uuid.uuid4()), "'; DROP TABLE cx_runs; --"]])  # no such runs
    wait_for(
        lambda: worker.log().count("ignored") >= ignored_before + 13,
        what="the worker to refuse all thirteen",
    )
    assert flows.calls(key) == 1
    assert handle.history() == before
    with flows.cx.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cx_runs")).scalar_one() > 0
    assert "forged" in worker.log()
