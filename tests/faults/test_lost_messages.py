"""Messages that never arrive: the broker loses everything, or a process crashes
between its journal commit and its publish. Upkeep rebuilds the work from Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from tests.faults.apps.chaos import Chaos
from tests.faults.support import Lab, assert_journal, has_event, wait_for


def start_journey(client: Chaos, key: str, nap: float = 0.5) -> Any:
    handle = client.journey.delay(key, nap)
    handle.signal("early", "first")  # buffered until the run waits for it
    return handle


def approve_when_waiting(handle: Any, timeout: float = 30) -> None:
    wait_for(lambda: has_event(handle, "signal_awaited", "approve"), timeout, "the approve await")
    handle.signal("approve", "yes")


JOURNEY_RESULT = {"doubled": 6, "early": "first", "approval": "yes", "parallel": [0, 1, 4]}


def test_broker_flush_while_runs_wait_on_timers_and_activities(lab: Lab) -> None:
    """FLUSHDB of the suite's broker db (the chaos app's whole broker, so FLUSHALL in
    effect, without touching anyone else's data): queued, unacked and restorable
    messages are all gone at once."""
    lab.workers(("a", {"beat": True}), ("b", {}))
    client = lab.client()
    key = uuid.uuid4().hex
    sleeping = client.sleeper.delay(2.0)
    working = client.fan_out.delay(key, 6, 1.5, 10.0)  # more than the 4 pool slots
    retrying = client.retrying.delay(f"{key}-flaky", 1)  # its retry rides a 1.5 s countdown
    chained = client.chain.delay(6)
    journey = start_journey(client, f"{key}-j", 1.0)
    broker = redis.Redis.from_url(lab.broker_url)
    wait_for(  # queued, or reserved by a worker and unacked: either way the broker holds it
        lambda: (
            client.calls(f"{key}-flaky") == 1 and broker.llen("chaos") + broker.hlen("unacked") > 0
        ),
        20,
        "a retry pending and messages held by the broker",
    )
    broker.flushdb()

    approve_when_waiting(journey)
    assert sleeping.result(timeout=30) >= 2.0
    assert working.result(timeout=30) == list(range(6))
    assert retrying.result(timeout=30) == 2
    assert chained.result(timeout=30) == sum(range(6))
    assert journey.result(timeout=30) == JOURNEY_RESULT
    for handle, activities in ((sleeping, 0), (working, 6), (retrying, 1), (chained, 6),
                               (journey, 5)):  # fmt: skip
        assert_journal(handle.history(), activities)
        assert lab.run_row(handle.run_id)["wake_at"] is None
    assert client.calls(f"{key}-flaky") == 2
    for i in range(6):
        assert client.calls(f"{key}-{i}") >= 1


def test_crash_between_commit_and_publish_is_recovered_by_upkeep(lab: Lab) -> None:
    """The first three wakeups and the first three activity messages published by any
    process (the test's own client included) are dropped after their commit."""
    lab.configure(drop_advance=3, drop_activity=3)
    a, b = lab.workers(("a", {"beat": True}), ("b", {}))
    client = lab.client()
    key = uuid.uuid4().hex
    chained = client.chain.delay(4)
    working = client.fan_out.delay(key, 3, 0.2, 10.0)
    journey = start_journey(client, f"{key}-j")

    approve_when_waiting(journey)
    assert chained.result(timeout=30) == sum(range(4))
    assert working.result(timeout=30) == [0, 1, 2]
    assert journey.result(timeout=30) == JOURNEY_RESULT
    assert client.counter("dropped-advance") == 3
    assert client.counter("dropped-activity") == 3
    assert "chaos: dropped" in a.log() + b.log()
    for handle, activities in ((chained, 4), (working, 3), (journey, 5)):
        assert_journal(handle.history(), activities)
        assert lab.run_row(handle.run_id)["wake_at"] is None
    for name in (f"{key}-0", f"{key}-1", f"{key}-2", f"{key}-j-w"):
        assert client.calls(name) >= 1
