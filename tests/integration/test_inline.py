"""Inline dispatch through real workers: the next activity runs where the last one
completed, claimed in the same transaction, without a broker message; and a worker
that dies inside such an activity loses nothing.
"""

from __future__ import annotations

import time
import uuid
from types import ModuleType

import pytest

from tests.integration.checks import assert_sound
from tests.integration.harness import WorkerFactory, WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")

FLOWS = "tests.integration.apps.flows"


def received(worker: WorkerProcess, task_id: str, attempt: int = 1) -> bool:
    """Did this worker get the attempt's Celery message (Celery logs every receipt)?"""
    return f"[{task_id}-{attempt}] received" in worker.log()


def test_a_sequential_workflow_sends_one_message_its_start(
    flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.chain.delay(6)
    assert handle.result(timeout=30) == sum(range(6))
    assert_sound(handle.history())
    tasks = flows.cx.activity_tasks(handle.run_id)
    assert [t.state for t in tasks] == ["completed"] * 6
    time.sleep(0.5)  # Celery may log a receipt a moment after the body ran
    # The start scheduled the first activity and published it (in place of a first
    # wakeup), and each completion claimed the next one: no other activity message.
    delivered = [received(worker, t.task_id) for t in tasks]
    assert delivered == [True] + [False] * 5, delivered


def test_a_run_started_by_name_sends_no_activity_messages(
    flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.cx.start(flows.chain.name, 6)
    assert handle.result(timeout=30) == sum(range(6))
    tasks = flows.cx.activity_tasks(handle.run_id)
    time.sleep(0.5)
    # The wakeup that started the run ran the first activity itself.
    delivered = [received(worker, t.task_id) for t in tasks]
    assert delivered == [False] * 6, delivered


def test_worker_killed_inside_an_inline_activity_loses_nothing(
    flows: ModuleType, worker_env: dict[str, str], worker_factory: WorkerFactory
) -> None:
    key = uuid.uuid4().hex
    first = worker_factory(FLOWS, env=worker_env, queues=[flows.INLINE_QUEUE], concurrency=1)
    handle = flows.hops.delay(key, 30.0)
    deadline = time.monotonic() + 20
    while flows.calls(key) == 0:  # the second hop's first attempt has started
        assert time.monotonic() < deadline, "the second hop never started"
        time.sleep(0.05)
    second_hop = flows.cx.activity_tasks(handle.run_id)[1]
    assert not received(first, second_hop.task_id), "the second hop was not run inline"
    first.kill()

    second = worker_factory(FLOWS, env=worker_env, queues=[flows.INLINE_QUEUE], concurrency=1)
    assert handle.result(timeout=30) == ["first", "second, after 1 earlier attempt(s)"]
    assert flows.calls(f"{key}-first") == 1
    assert flows.calls(key) == 2
    assert received(second, second_hop.task_id, attempt=2)
    attempts = flows.cx.activity_tasks(handle.run_id)[1]
    assert attempts.attempt == 2 and attempts.state == "completed"
    assert_sound(handle.history())
