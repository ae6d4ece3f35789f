"""Each activity body is interrupted at its own timeout, and leaves no timer behind."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import pytest

from continuum_celery.runtime.deadline import AttemptTimeout, attempt_deadline


def test_a_body_past_its_timeout_is_interrupted() -> None:
    started = time.monotonic()
    with pytest.raises(AttemptTimeout), attempt_deadline(0.2):
        time.sleep(30)
    assert time.monotonic() - started < 10


def test_except_exception_in_the_body_does_not_swallow_the_interruption() -> None:
    def stubborn() -> None:
        with contextlib.suppress(Exception):  # what a body might do around its own I/O
            time.sleep(30)

    with pytest.raises(AttemptTimeout), attempt_deadline(0.2):
        stubborn()


def test_a_body_in_time_leaves_no_timer_and_the_old_handler_back() -> None:
    def mine(signum: int, frame: object) -> None: ...

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        with attempt_deadline(5):
            pass
        assert signal.getsignal(signal.SIGALRM) is mine
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_the_body_runs_on_uninterrupted() -> None:
    outcome: list[str] = []

    def body() -> None:
        with attempt_deadline(0.05):
            time.sleep(0.3)
        outcome.append("finished")

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert outcome == ["finished"]


def test_a_timer_armed_outside_is_put_back_with_what_is_left_of_it() -> None:
    outer = signal.setitimer(signal.ITIMER_REAL, 50.0)  # pytest-timeout's, if it uses one
    try:
        with attempt_deadline(5):
            time.sleep(0.1)
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 45.0 < remaining < 50.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, *outer)
