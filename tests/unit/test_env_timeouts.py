"""Activity timeouts in WorkflowEnvironment: a slow body or mock times out and is
retried by its policy, as on workers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery

from continuum_celery import Continuum, RetryPolicy
from continuum_celery.errors import RunFailed
from continuum_celery.testing import WorkflowEnvironment


def app(slow_attempts: int) -> Continuum:
    """``slow.fetch`` overruns its 0.1s timeout on its first ``slow_attempts`` attempts."""
    cx = Continuum(Celery("slow", set_as_current=False), "postgresql://127.0.0.1:1/none",
                   worker_upkeep=False)  # fmt: skip
    left = {"slow": slow_attempts}

    @cx.activity(name="slow.fetch", timeout=0.1, retry=RetryPolicy(max_attempts=3, base=30))
    def fetch(key: str) -> str:
        if left["slow"]:
            left["slow"] -= 1
            time.sleep(2)
        return f"value of {key}"

    @cx.workflow(name="slow.flow")
    def flow(key: str) -> str:
        return fetch(key)

    return cx


def test_an_overrunning_attempt_times_out_and_is_retried() -> None:
    env = WorkflowEnvironment(app(slow_attempts=1))
    began = time.monotonic()
    handle = env.start("slow.flow", "k")
    assert handle.result() == "value of k"
    assert time.monotonic() - began < 1.0  # stopped at 0.1s, not after the 2s sleep
    assert env.activities.attempts["slow.fetch"] == 2
    assert "activity_failed" not in [e.type for e in handle.history()]
    assert env.now() - env.get_run(handle.run_id).created_at >= timedelta(seconds=30)  # backoff


def test_every_attempt_timing_out_fails_the_run_with_timeout_error() -> None:
    env = WorkflowEnvironment(app(slow_attempts=3))
    handle = env.start("slow.flow", "k")
    with pytest.raises(RunFailed, match=r"slow.fetch failed after 3 attempt.*TimeoutError"):
        handle.result()
    failed = next(e for e in handle.history() if e.type == "activity_failed")
    assert failed.data["error_type"] == "TimeoutError"
    assert failed.data["message"] == "attempt 3 did not finish within its 0.1s timeout"


def test_a_slow_mock_hits_the_activity_timeout() -> None:
    env = WorkflowEnvironment(app(slow_attempts=0))
    env.mock_activity("slow.fetch", lambda key: time.sleep(2))
    began = time.monotonic()
    with pytest.raises(RunFailed, match="TimeoutError"):
        env.start("slow.flow", "k").result()
    assert time.monotonic() - began < 1.5 and env.activities.attempts["slow.fetch"] == 3


def test_off_the_main_thread_a_late_result_is_refused() -> None:
    """No signal can stop the body there: it runs on, and its result is too late."""
    env = WorkflowEnvironment(app(slow_attempts=0))
    env.mock_activity("slow.fetch", lambda key: time.sleep(0.15) or key)
    outcome: list[Any] = []

    def drive() -> None:
        try:
            env.start("slow.flow", "k").result()
        except RunFailed as error:
            outcome.append(error)

    thread = threading.Thread(target=drive)
    thread.start()
    thread.join(10)
    assert len(outcome) == 1 and "TimeoutError" in str(outcome[0])
