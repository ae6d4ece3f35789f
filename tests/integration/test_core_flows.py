"""The durable core, end to end: public API -> Postgres journal -> real celery worker."""

from __future__ import annotations

import re
import time
import uuid
from types import ModuleType

import pytest

from continuum_celery import RunCancelled, RunFailed
from tests.integration.checks import assert_sound, types
from tests.integration.harness import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def key() -> str:
    return uuid.uuid4().hex


def wait_for_state(handle, state: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while handle.state != state:
        assert time.monotonic() < deadline, f"run never reached {state}; it is {handle.state}"
        time.sleep(0.05)


def wait_until_awaiting(handle, name: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not any(e.type == "signal_awaited" and e.data["name"] == name for e in handle.history()):
        assert time.monotonic() < deadline, "workflow never reached the await"
        time.sleep(0.05)


def test_ten_chained_activities(flows: ModuleType) -> None:
    handle = flows.chain.delay(10)
    assert handle.result(timeout=30) == sum(range(10))
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["activity_scheduled", "activity_completed"] * 10
    assert handle.state == "completed"


def test_eight_parallel_activities(flows: ModuleType) -> None:
    handle = flows.fan_out.delay(8)
    assert handle.result(timeout=30) == [2 * i for i in range(8)]
    history = handle.history()
    assert_sound(history)
    assert types(history)[:8] == ["activity_scheduled"] * 8, "all 8 scheduled in one decision"
    assert types(history).count("activity_completed") == 8


def test_signal_sent_before_the_await_is_buffered_in_order(flows: ModuleType) -> None:
    handle = flows.wait_for_signals.apply_async(args=(3,))
    for n in range(3):
        handle.signal("item", {"n": n})
    assert handle.result(timeout=30) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert_sound(handle.history())


def test_signal_sent_after_the_await(flows: ModuleType) -> None:
    handle = flows.wait_for_signals.delay(1)
    wait_until_awaiting(handle, "item")
    handle.signal("item", "late")
    assert handle.result(timeout=30) == ["late"]
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["signal_awaited", "signal_received"]
    assert history[1].data == {"name": "item", "payload": "late"}


def test_signal_timeout(flows: ModuleType) -> None:
    handle = flows.signal_or_timeout.delay(1.0)
    assert handle.result(timeout=30) == "timed out"
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["signal_awaited", "timer_fired"]


def test_signal_beats_its_timeout(flows: ModuleType) -> None:
    handle = flows.signal_or_timeout.delay(30.0)
    wait_until_awaiting(handle, "approve")
    handle.signal("approve", "yes")
    assert handle.result(timeout=30) == "yes"
    assert types(handle.history()) == ["signal_awaited", "signal_received"]


def test_durable_sleep_of_two_seconds(flows: ModuleType) -> None:
    started = time.monotonic()
    handle = flows.sleeper.delay(2.0)
    result = handle.result(timeout=30)
    assert time.monotonic() - started >= 2.0
    assert result["slept"] >= 2.0
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["side_effect", "timer_started", "timer_fired", "side_effect"]


def test_retry_then_success(flows: ModuleType) -> None:
    k = key()
    handle = flows.retrying.delay(k, 2)
    assert handle.result(timeout=30) == 3
    assert flows.calls(k) == 3
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["activity_scheduled", "activity_completed"]
    assert history[1].data["attempt"] == 3


def test_retries_exhausted_raise_activity_failed_in_the_workflow(flows: ModuleType) -> None:
    k = key()
    handle = flows.exhausting.delay(k)
    assert handle.result(timeout=30) == {
        "type": "ValueError",
        "message": f"bad input {k}",
        "attempt": 3,
    }
    assert flows.calls(k) == 3
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["activity_scheduled", "activity_failed"]


def test_non_retryable_error_fails_the_run_after_one_attempt(flows: ModuleType) -> None:
    k = key()
    handle = flows.uncaught_failure.delay(k)
    with pytest.raises(RunFailed) as failure:
        handle.result(timeout=30)
    assert "ActivityFailed" in str(failure.value)
    assert "NonRetryableError: card declined" in str(failure.value)
    assert flows.calls(k) == 1
    run = flows.cx.get_run(handle.run_id)
    assert run.state == "failed" and run.error == str(failure.value)


def test_unserializable_result_fails_the_attempt_clearly(flows: ModuleType) -> None:
    k = key()
    handle = flows.bad_result.delay(k)
    assert handle.result(timeout=30) == "NotSerializable"
    failed = handle.history()[-1]
    assert failed.type == "activity_failed"
    assert "is not JSON" in failed.data["message"]


def test_attempt_timeout_counts_as_a_failed_attempt(flows: ModuleType) -> None:
    k = key()
    handle = flows.timing_out.delay(k)
    assert handle.result(timeout=30) == "TimeoutError after 2"
    assert flows.calls(k) == 2
    assert_sound(handle.history())


def test_cancel_a_waiting_run_discards_its_work(flows: ModuleType) -> None:
    handle = flows.signal_or_timeout.delay(3.0)
    wait_until_awaiting(handle, "approve")
    handle.cancel()
    with pytest.raises(RunCancelled):
        handle.result(timeout=10)
    time.sleep(3.5)  # past the timeout: the discarded timer must not fire
    assert types(handle.history()) == ["signal_awaited", "cancel_requested"]
    assert handle.state == "cancelled"


def test_second_start_with_the_same_idempotency_key_returns_the_first_run(
    flows: ModuleType,
) -> None:
    k = key()
    first = flows.chain.apply_async(args=(2,), idempotency_key=k)
    second = flows.chain.apply_async(args=(2,), idempotency_key=k)
    assert second.run_id == first.run_id
    assert first.result(timeout=30) == 1


def test_readme_order_flow(flows: ModuleType) -> None:
    handle = flows.order.delay("o-1", 100)
    wait_until_awaiting(handle, "review")
    handle.signal("review", "approved")
    assert handle.result(timeout=30) == {
        "status": "ok",
        "receipt": {"order": "o-1", "amount": 100},
    }
    assert_sound(handle.history())


FAILED_ATTEMPT = re.compile(r"ERROR/\S+\] Task tests\.integration\.apps\.flows\.\w+\[\S+\] raised")


def test_worker_log_is_clean(worker: WorkerProcess) -> None:
    """No tracebacks but Celery's own report of a failed attempt (its task's FAILURE)."""
    records = re.split(r"\n(?=\[\d{4}-)", worker.log())
    unexpected = [r for r in records if "Traceback" in r and not FAILED_ATTEMPT.search(r)]
    assert not unexpected, "\n".join(unexpected[:3])
