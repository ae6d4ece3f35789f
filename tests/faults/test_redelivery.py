"""Messages delivered more than once: the claim CAS and lease make duplicates no-ops."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.faults.support import Lab, assert_journal, completions, wait_for
from tests.integration.checks import types

IGNORED = re.compile(r"ignored message: task \S+ attempt \d+ is (claimed|completed)")


def test_redis_redelivers_long_activities_to_a_second_worker(lab: Lab) -> None:
    """Redis puts an unacked message back after ``visibility_timeout`` (1 s) while its
    3 s body still runs, so the other worker receives it too."""
    fast_restore = {
        "visibility_timeout": 1,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    lab.configure(transport_options=json.dumps(fast_restore))
    a, b = lab.workers(("a", {"beat": True}), ("b", {}))
    client = lab.client()
    key = uuid.uuid4().hex
    handle = client.fan_out.delay(key, 4, 3.0, 20.0)
    assert handle.result(timeout=40) == [0, 1, 2, 3]

    history = handle.history()
    assert_journal(history, activities=4)
    for i in range(4):
        assert client.calls(f"{key}-{i}") >= 1  # at least once...
    assert len(completions(history)) == 4  # ...journaled exactly once
    for task in lab.tasks(handle.run_id):
        assert task["state"] == "completed"
        assert lab.attempts(str(task["id"]))[-1][1] == "completed"
    # The fault really happened: redelivered copies reached a worker and were refused.
    refused = wait_for(
        lambda: IGNORED.findall(a.log() + b.log()), 10, "a redelivered copy to be refused"
    )
    assert refused


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "every-activity-published"])
def test_every_message_sent_three_times_through_a_whole_run(lab: Lab, inline: bool) -> None:
    """Triple delivery of every wakeup and activity message (and of the client's own
    start and signal wakeups), across activities, a timer and two signals. With inline
    dispatch, activities a worker runs itself send no message; without it, all do."""
    lab.configure(repeat=3, inline_budget=1.0 if inline else 0.0)
    a, b = lab.workers(("a", {"beat": True}), ("b", {}))
    client = lab.client()
    key = uuid.uuid4().hex
    handle = client.journey.delay(key, 0.5)
    handle.signal("early", "first")  # buffered: the run is not waiting for it yet
    wait_for(
        lambda: any(
            e.type == "signal_awaited" and e.data["name"] == "approve" for e in handle.history()
        ),
        30,
        "the run to await approval",
    )
    handle.signal("approve", "yes")
    assert handle.result(timeout=30) == {
        "doubled": 6,
        "early": "first",
        "approval": "yes",
        "parallel": [0, 1, 4],
    }

    history = handle.history()
    assert_journal(history, activities=5)
    assert types(history).count("timer_fired") == 1
    assert types(history).count("signal_received") == 2
    for name in (f"{key}-w", f"{key}-p0", f"{key}-p1", f"{key}-p2"):
        assert client.calls(name) == 1, f"{name} ran {client.calls(name)} times"
    assert lab.run_row(handle.run_id)["wake_at"] is None
    # Every activity message (and at least the start's wakeup) went out three times,
    # and the extra copies were refused. Inline, at least the parallel ones a worker
    # could not take on itself were published.
    assert client.counter("published-activity") >= (2 if inline else 5)
    assert client.counter("published-advance") >= 1
    assert IGNORED.search(a.log() + b.log())
