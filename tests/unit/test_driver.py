"""The in-memory journal the other unit tests build their histories with."""

from __future__ import annotations

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Suspended
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.errors import NonRetryableError
from tests.unit.driver import Driver, StuckError, activity

attempts: list[int] = []


def _flaky(fail_times: int) -> str:
    attempts.append(len(attempts) + 1)
    if len(attempts) <= fail_times:
        raise ConnectionError(f"try {len(attempts)}")
    return f"ok after {len(attempts)}"


def _fatal() -> None:
    attempts.append(len(attempts) + 1)
    raise NonRetryableError("card stolen")


flaky = activity(_flaky, "net.flaky", retry=RetryPolicy(max_attempts=3, base=0.1))
fatal = activity(_fatal, "net.fatal", retry=RetryPolicy(max_attempts=5))


@pytest.fixture(autouse=True)
def _reset() -> None:
    attempts.clear()


def test_retries_follow_the_journaled_policy() -> None:
    def wf() -> str:
        return flaky(2)

    driver = Driver(wf, [flaky])
    assert driver.run() == Completed("ok after 3")
    done = driver.events("activity_completed")
    assert [(e.command_id, e.data) for e in done] == [
        ("activity:net.flaky:0", {"activity": "net.flaky", "attempt": 3, "result": "ok after 3"})
    ]


def test_non_retryable_errors_fail_on_the_first_attempt() -> None:
    def wf() -> None:
        fatal()

    driver = Driver(wf, [fatal])
    driver.run()
    assert attempts == [1]
    assert [e.data for e in driver.events("activity_failed")] == [
        {
            "activity": "net.fatal",
            "attempt": 1,
            "error_type": "NonRetryableError",
            "message": "card stolen",
        }
    ]


def test_signals_sent_early_are_buffered_and_others_wait() -> None:
    def wf() -> list[object]:
        return [workflow.wait_signal("a"), workflow.wait_signal("b")]

    driver = Driver(wf)
    assert driver.signal("b", 2) is None  # nobody waits for "b" yet
    assert driver.run() == Suspended(("signal:a:0",))
    event = driver.signal("a", 1)
    assert event is not None
    assert (event.seq, event.command_id) == (2, "signal:a:0")
    assert driver.run() == Completed([1, 2])
    assert [e.seq for e in driver.history] == [1, 2, 3, 4]


def test_only_waits_with_a_timeout_can_time_out() -> None:
    def wf() -> object:
        return workflow.wait_signal("a")

    driver = Driver(wf)
    driver.run()
    with pytest.raises(AssertionError, match="signal:a:0 has no timeout to fire"):
        driver.fire("signal:a:0")


def test_a_run_that_never_settles_is_reported() -> None:
    def forever() -> None:
        while True:
            workflow.sleep(1)

    driver = Driver(forever, auto_fire=True)
    with pytest.raises(StuckError, match="did not settle in 20 replays"):
        driver.run(max_steps=20)
    assert len(driver.events("timer_fired")) == 10  # one replay to start, one to find it waiting
