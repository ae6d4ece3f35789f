"""``handle.result()`` is woken by the run's end (LISTEN/NOTIFY), not by polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from continuum_celery import Run
from continuum_celery.journal.endings import RunEnds

pytestmark = pytest.mark.usefixtures("worker")


class Reads:
    """Counts the run reads ``result()`` makes (each one a database round trip)."""

    def __init__(self, read: Callable[[str], Run]) -> None:
        self.read = read
        self.count = 0

    def __call__(self, run_id: str) -> Run:
        self.count += 1
        return self.read(run_id)


@pytest.fixture
def reads(flows: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    counter = Reads(flows.cx.get_run)
    monkeypatch.setattr(flows.cx, "get_run", counter)
    yield counter


def later(seconds: float, action: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def started(flows: ModuleType, count: int = 1) -> Any:
    handle = flows.wait_for_signals.delay(count)
    deadline = time.monotonic() + 15
    while "signal_awaited" not in [e.type for e in handle.history()]:
        assert time.monotonic() < deadline, "the run never started waiting"
        time.sleep(0.05)
    return handle


def test_a_long_wait_makes_a_handful_of_reads(flows: ModuleType, reads: Reads) -> None:
    handle = started(flows)
    later(3.0, lambda: handle.signal("item", "done"))
    assert handle.result(timeout=30) == ["done"]
    assert reads.count <= 5, f"{reads.count} reads in 3 s: result() polled"


def test_the_end_wakes_the_waiter_at_once(flows: ModuleType, reads: Reads) -> None:
    handle = started(flows)
    signalled: list[float] = []
    later(1.5, lambda: (handle.signal("item", 1), signalled.append(time.monotonic())))
    assert handle.result(timeout=20, interval=60) == [1]
    assert time.monotonic() - signalled[0] < 1.0, "woken by a poll, not by the end"
    assert reads.count <= 3


def test_an_end_between_the_check_and_the_wait_is_not_missed(
    flows: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = started(flows)
    wait = RunEnds.wait
    waits: list[float] = []

    def end_first(ends: RunEnds, run_id: str, seconds: float) -> None:
        """The run ends after result() checked it and before it waits."""
        if not waits:
            handle.signal("item", "raced")
            while flows.cx.get_run(handle.run_id).state == "running":
                time.sleep(0.01)
        began = time.monotonic()
        wait(ends, run_id, seconds)
        waits.append(time.monotonic() - began)

    monkeypatch.setattr(RunEnds, "wait", end_first)
    assert handle.result(timeout=20, interval=60) == ["raced"]
    assert len(waits) == 1 and waits[0] < 1.0, f"the notification was lost: waited {waits}"


def test_a_waiter_follows_a_continue_as_new_chain(flows: ModuleType, reads: Reads) -> None:
    first = flows.relay.delay(3, [])
    for seconds, baton in ((1.0, "a"), (2.0, "b"), (3.0, "c")):
        later(seconds, lambda baton=baton: flows.cx.signal(first.run_id, "baton", baton))
    began = time.monotonic()
    assert first.result(timeout=20, interval=60) == ["a", "b", "c"]
    assert time.monotonic() - began < 5.0, "a continued run did not wake the waiter"
    assert reads.count <= 12
