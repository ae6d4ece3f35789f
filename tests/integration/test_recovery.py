"""Lost messages are recovered from Postgres; drift fails a run visibly."""

from __future__ import annotations

import time
import uuid
from types import ModuleType

import pytest
import redis

from continuum_celery import ResultTimeout
from continuum_celery.journal.records import NewRun
from tests.integration.checks import assert_sound, types, wait_for
from tests.integration.harness import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def test_a_run_whose_wakeup_was_never_published_still_runs(flows: ModuleType) -> None:
    run_id = str(uuid.uuid4())
    new = NewRun(run_id, flows.chain.name, [3], {})
    flows.cx.runs.start_run(new)  # committed, but no Celery message at all
    assert flows.cx.run(run_id).result(timeout=30) == 3
    assert_sound(flows.cx.history(run_id))


def test_broker_flush_while_runs_wait_on_timers_and_activities(
    flows: ModuleType, broker_url: str
) -> None:
    key = uuid.uuid4().hex
    sleeping = flows.sleeper.delay(1.5)
    working = flows.slow_single.delay(key, 0.5)
    chained = flows.chain.delay(5)
    time.sleep(0.3)
    redis.Redis.from_url(broker_url).flushdb()  # every queued and unacked message is gone
    assert sleeping.result(timeout=30)["slept"] >= 1.5
    assert working.result(timeout=30) == "done"
    assert chained.result(timeout=30) == 10
    for handle in (sleeping, working, chained):
        assert_sound(handle.history())


def test_drift_blocks_the_run_and_a_fixed_deploy_resumes_it(  # type: ignore[no-untyped-def]
    flows: ModuleType, state_dir, worker: WorkerProcess
) -> None:
    key = uuid.uuid4().hex
    handle = flows.drifting.delay(key)
    wait_for(lambda: "signal_awaited" in types(handle.history()))
    before = handle.history()
    variant = state_dir / f"variant-{key}"
    variant.touch()  # "deploy" code that calls another activity
    worker.restart()  # a deploy restarts the workers: none still runs the old code live
    handle.signal("go")
    with pytest.raises(ResultTimeout, match="is blocked") as waited:
        handle.result(timeout=3)
    message = str(waited.value).split("): ", 1)[1]
    assert message.startswith("ReplayDriftError: seq 1 expected activity_scheduled")
    assert "flows.counted:0" in message and "flows.add:0" in message
    run = flows.cx.get_run(handle.run_id)
    assert (run.state, run.error) == ("blocked", message)
    after = handle.history()
    assert after[: len(before)] == before, "recorded events are never rewritten"
    assert types(after) == [*types(before), "signal_received"]
    assert f"run {handle.run_id} (tests.integration.apps.flows.drifting) blocked" in worker.log()

    variant.unlink()  # the fix is deployed: workers restart with code that fits
    worker.restart()
    assert handle.result(timeout=30) == "done"
    assert flows.cx.get_run(handle.run_id).error is None
    assert_sound(handle.history())


def test_a_restart_replays_a_gather_to_the_failure_the_run_saw_first(
    flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.first_failure.delay(uuid.uuid4().hex, 4.0)
    deadline = time.monotonic() + 20
    while types(handle.history()).count("activity_failed") < 2:  # both failures journaled
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.restart()  # no live instance survives: the next wake replays from the top
    assert handle.result(timeout=30) == {"seen": "fast", "noted": "fast"}
    failed = [e.data["activity"] for e in handle.history() if e.type == "activity_failed"]
    assert len(failed) == 2
    assert_sound(handle.history())
