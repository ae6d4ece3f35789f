"""Workers that die or freeze mid-activity: claims expire, attempts are counted, and a
stale worker's late result is fenced out of the journal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.faults.apps.chaos import call_pids
from tests.faults.support import (
    Lab,
    assert_journal,
    assert_taken_over,
    has_event,
    rounds_for,
    sigkill_mid_activity,
    wait_for,
)
from tests.integration.harness import WorkerProcess


def test_sigkill_mid_activity_expires_the_claim_and_retries(lab: Lab) -> None:
    sigkill_mid_activity(lab, lab.client())


@dataclass
class Takeover:
    frozen: WorkerProcess
    survivor: WorkerProcess
    key: str
    handle: Any


def freeze_through_a_takeover(lab: Lab, hold: bool) -> Takeover:
    """Worker A runs attempt 1 (6 s body, 2 s timeout) and is SIGSTOPped; worker B
    starts, expires A's claim and completes attempt 2. Returns once that is journaled.

    A uses the solo pool, which enforces no Celery time limit: on SIGCONT its body
    really finishes and really tries to journal a result, like a worker coming back
    from a long GC pause or a frozen VM. (Under prefork, Celery's soft time limit
    would fire first and turn the late result into a late failure.)
    """
    a = lab.worker("a", pool="solo", concurrency=1)
    client = lab.client()
    key = uuid.uuid4().hex
    handle = client.single.delay(key, 6.0, 2.0, 2, hold)
    first_pid = wait_for(lambda: call_pids(lab.state_dir, key), 20, "attempt 1 to start")[0]
    assert first_pid in a.pids()
    a.pause()
    b = lab.worker("b", beat=True)
    wait_for(lambda: has_event(handle, "activity_completed"), 30, "attempt 2 to complete")
    return Takeover(a, b, key, handle)


def thaw_and_expect_rejection(lab: Lab, takeover: Takeover) -> None:
    """SIGCONT the frozen worker; its result must be refused and change nothing."""
    handle, frozen = takeover.handle, takeover.frozen
    before = handle.history()
    frozen.resume()
    wait_for(lambda: "rejected" in frozen.log(), 20, "worker A's late result to be rejected")
    assert "Traceback" not in frozen.log(), frozen.log_tail(40)
    assert handle.history() == before, "the stale result changed nothing"
    (task,) = lab.tasks(handle.run_id)
    assert task["state"] == "completed" and task["attempt"] == 2
    assert_taken_over(lab.attempts(str(task["id"])))
    (completed,) = [e for e in before if e.type == "activity_completed"]
    assert completed.data["attempt"] == 2
    pids = call_pids(lab.state_dir, takeover.key)
    assert len(pids) == 2 and pids[0] in frozen.pids() and pids[1] in takeover.survivor.pids()


def test_frozen_worker_late_result_is_rejected_while_the_run_goes_on(lab: Lab) -> None:
    takeover = freeze_through_a_takeover(lab, hold=True)
    handle = takeover.handle
    wait_for(lambda: has_event(handle, "signal_awaited", "release"), 20, "the run to move on")

    thaw_and_expect_rejection(lab, takeover)

    handle.signal("release")
    assert handle.result(timeout=30) == "done"
    assert_journal(handle.history(), activities=1)


def test_frozen_worker_late_result_is_rejected_after_the_run_finished(lab: Lab) -> None:
    takeover = freeze_through_a_takeover(lab, hold=False)
    assert takeover.handle.result(timeout=20) == "done"
    assert_journal(takeover.handle.history(), activities=1)

    thaw_and_expect_rejection(lab, takeover)
    assert lab.run_row(takeover.handle.run_id)["state"] == "completed"


def test_frozen_replay_is_fenced_out_after_another_worker_takes_over(lab: Lab) -> None:
    """The replay side of the same fault: A is SIGSTOPped in the middle of a slow
    (1.5 s of CPU) replay, its lease lapses, B takes the run over and commits; when A
    thaws and tries to commit the same decision, the lease token turns it away."""
    lab.configure(lease_ttl=1.0)
    a = lab.worker("a", concurrency=1)
    client = lab.client()
    width = 2
    # Started by name, so that a worker (not this client, which has the code and
    # would make the first decision itself) replays it first.
    args = (uuid.uuid4().hex, width, rounds_for(1.5), 1)
    handle = client.cx.start("chaos.slow_replay", *args)
    wait_for(lambda: lab.run_row(handle.run_id)["lease_owner"], 20, "A to lease the run")
    a.pause()
    b = lab.worker("b", beat=True)
    wait_for(lambda: has_event(handle, "activity_scheduled"), 30, "B to commit the decision")

    a.resume()
    wait_for(lambda: "fenced out" in a.log(), 20, "A's stale commit to be fenced out")
    wait_for(lambda: has_event(handle, "signal_awaited", "finish"), 30, "the run to park")
    handle.signal("finish")
    result = handle.result(timeout=30)
    assert result["results"] == [[0, i] for i in range(width)]
    history = handle.history()
    assert_journal(history, activities=width)  # A's copy of the decision never landed
    assert "Traceback" not in a.log() + b.log()
