"""The crash scenarios again with RabbitMQ as the broker, where a dead consumer's
unacked messages go back to the queue at once (Redis waits for the visibility
timeout): the requeued copies reach the survivor while the dead claims still live."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

from tests.faults.apps.chaos import call_pids
from tests.faults.support import (
    Lab,
    assert_journal,
    sigkill_mid_activity,
    unavailable,
    wait_for,
)

RABBITMQ = os.environ.get("CONTINUUM_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = "chaos"
RECEIVED = re.compile(r"Task chaos\.\w+\[([0-9a-f-]+-\d+)\] received")


def drop_chaos_queue(url: str, delete: bool = False) -> None:
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            if delete:
                channel.queue_delete(QUEUE)
                channel.exchange_delete(QUEUE)
            else:
                channel.queue_purge(QUEUE)
        except conn.channel_errors:  # not declared (yet): nothing to drop
            pass
        finally:
            channel.close()


@pytest.fixture(scope="module")
def rabbitmq_url() -> Iterator[str]:
    try:
        with Connection(RABBITMQ, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        unavailable(f"RabbitMQ at {RABBITMQ}", exc)
    yield RABBITMQ
    drop_chaos_queue(RABBITMQ, delete=True)


@pytest.fixture
def rabbit(lab: Lab, rabbitmq_url: str) -> Iterator[Lab]:
    """The lab with RabbitMQ as the broker of every worker and client it makes."""
    drop_chaos_queue(rabbitmq_url)
    lab.broker_url = rabbitmq_url
    lab.env["CELERY_BROKER_URL"] = rabbitmq_url
    yield lab
    drop_chaos_queue(rabbitmq_url)


def received(log: str) -> set[str]:
    return set(RECEIVED.findall(log))


def test_worker_killed_mid_task_its_messages_are_requeued(rabbit: Lab) -> None:
    """acks_late + SIGKILL: everything the dead worker held (the attempts it was
    running and the messages it had prefetched) is redelivered to the survivor."""
    rabbit.configure(prefetch=4)
    a, b = rabbit.workers(("a", {"beat": True}), ("b", {"beat": True}))
    client = rabbit.client()
    key = uuid.uuid4().hex
    width = 8
    handle = client.fan_out.delay(key, width, 1.5, 3.0)
    first = wait_for(
        lambda: next(
            (pids[0] for i in range(width) if (pids := call_pids(rabbit.state_dir, f"{key}-{i}"))),
            None,
        ),
        20,
        "a body to start",
    )
    victim, survivor = (a, b) if first in a.pids() else (b, a)
    doomed = set(victim.pids())
    victim.kill()

    assert handle.result(timeout=40) == list(range(width))
    history = handle.history()
    assert_journal(history, activities=width)

    # Requeued, not lost: the survivor got messages the victim had received.
    requeued = received(victim.log()) & received(survivor.log())
    assert requeued, "no message of the dead worker reached the survivor"
    # Attempts the victim was running when it died were counted and redone elsewhere.
    tasks = {task["command_id"]: str(task["id"]) for task in rabbit.tasks(handle.run_id)}
    killed_mid_body = 0
    for i in range(width):
        pids = call_pids(rabbit.state_dir, f"{key}-{i}")
        assert pids and pids[-1] in survivor.pids(), (i, pids)
        attempts = rabbit.attempts(tasks[f"activity:chaos.work:{i}"])
        if pids[0] in doomed:
            killed_mid_body += 1
            assert attempts[0][0] == 1 and attempts[0][1] in ("timed_out", "lost"), attempts
        # (An attempt may also have died between its claim and its first line of body.)
        assert attempts[-1][1] == "completed" and len(attempts) >= len(pids), (attempts, pids)
    assert killed_mid_body >= 1


def test_sigkill_mid_activity_with_rabbitmq(rabbit: Lab) -> None:
    rabbit.configure(inline_budget=0)  # the killed attempt must have come as a message
    _victim, survivor, task_id = sigkill_mid_activity(rabbit, rabbit.client())
    # The requeued attempt-1 message reached the survivor, which refused it: first as
    # a live claim, or, if the claim had already expired, as a stale attempt.
    assert f"{task_id}-1" in received(survivor.log())
    assert re.search(rf"ignored message: task {task_id} (attempt 1 is claimed|is at attempt 2)",
                     survivor.log()), survivor.log_tail(60)  # fmt: skip
