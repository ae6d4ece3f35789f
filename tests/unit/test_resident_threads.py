"""Resident instances under ``--pool threads``: each greenlet stays on its own thread.

A greenlet can only be switched to from the thread that made it. The cache never
tries otherwise (greenlet.error would say so): an instance met on another thread
is replaced there, and unwound later by its own thread.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import greenlet

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from continuum_celery.engine.residents import ResidentCache
from tests.unit.driver import FakeLive, activity
from tests.unit.lockstep import LockstepDriver

T = TypeVar("T")
add = activity(lambda a, b: a + b, "math.add")
neg = activity(lambda a: -a, "math.neg")
ACTIVITIES = [add, neg]

unwound: list[tuple[int, str]] = []
greenlets: list[Any] = []


def tracked(steps: int) -> int:
    """Sums with activities; remembers its greenlet and which thread unwound it."""
    if greenlet.getcurrent().parent is not None:  # a resident instance, not a replay
        greenlets.append(greenlet.getcurrent())
    total = 0
    try:
        for i in range(steps):
            total = add(total, i)
            if i % 3 == 0:
                workflow.sleep(1)
                total += sum(workflow.gather(*[neg.start(n) for n in range(2)]))
        return total
    finally:
        if greenlet.getcurrent().parent is not None:
            unwound.append((threading.get_ident(), type(sys.exc_info()[1]).__name__))


class Worker:
    """One long-lived thread, so a test says which thread decides."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.ident = self.call(threading.get_ident)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return self.pool.submit(fn, *args).result()

    def stop(self) -> None:
        self.pool.shutdown()


def run(name: str, cache: ResidentCache, steps: int = 8) -> LockstepDriver:
    info = WorkflowInfo(name, "tests.workflow")
    return LockstepDriver(tracked, ACTIVITIES, args=[steps], cache=cache, info=info,
                          auto_fire=True)  # fmt: skip


def setup_function() -> None:
    unwound.clear()
    greenlets.clear()


def test_an_instance_is_resumed_only_on_the_thread_that_made_it() -> None:
    cache, other = ResidentCache(), Worker()
    driver = run("shared", cache)
    other.call(driver.step)  # the instance lives on the other thread now

    driver.step()  # here: replaced, not switched to (the lockstep checks the decision)

    assert cache.builds == 2
    assert unwound == [], "only its own thread may unwind it"
    other.call(run("unrelated", cache).step)  # its next decision unwinds it there
    assert unwound == [(other.ident, "Suspend")]
    assert greenlets[0].dead and not greenlets[1].dead
    other.stop()


def test_an_instance_of_a_thread_that_has_exited_is_let_go() -> None:
    cache = ResidentCache(capacity=1)
    first = run("first", cache)
    thread = threading.Thread(target=first.step)
    thread.start()
    thread.join()

    run("second", cache).step()  # evicts the first run's instance: nothing can run it

    assert "first" not in cache and "second" in cache
    assert not cache._orphans
    assert isinstance(first.step().outcome, Suspended)  # and the run carries on here
    assert cache.builds == 3


def test_threads_deciding_many_runs_at_once_match_replay() -> None:
    cache = ResidentCache(capacity=5)  # small: instances are evicted across threads
    workers = [Worker() for _ in range(4)]
    drivers = [run(f"run-{n}", cache, steps=4 + n % 5) for n in range(12)]
    rng = random.Random(7)
    while pending := [d for d in drivers if not _ended(d)]:
        steps = [rng.choice(workers).pool.submit(advance, d) for d in pending]
        for future in steps:
            future.result()  # re-raises a mismatch or a greenlet.error from any thread
    for worker in workers:
        worker.call(cache.clear)  # each thread unwinds what it was left

    assert all(isinstance(d.outcome, Completed) for d in drivers)
    assert cache.builds > len(drivers), "some runs moved between threads"
    assert len(cache) == 0 and not cache._orphans
    assert all(g.dead for g in greenlets)
    for worker in workers:
        worker.stop()


def test_threads_deciding_one_run_at_once_match_replay() -> None:
    cache, live = ResidentCache(), FakeLive()
    driver = run("contended", cache, steps=4)
    driver.step()
    history, info = list(driver.history), driver.info
    expected = replay(tracked, [4], {}, history, info, live)
    assert isinstance(expected.outcome, Suspended)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def decide() -> None:
        barrier.wait()
        try:
            for _ in range(50):
                assert cache.decide(tracked, [4], {}, history, info, live) == expected
        except BaseException as error:  # reported below, from the main thread
            errors.append(error)

    threads = [threading.Thread(target=decide) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []


def advance(driver: LockstepDriver) -> None:
    """One decision, journaled; fire the sleep it waits on, if that is all it waits on."""
    before = driver.last_seq
    if isinstance(driver.step().outcome, Suspended) and driver.last_seq == before:
        driver._fire_sleeps()


def _ended(driver: LockstepDriver) -> bool:
    return driver.outcome is not None and not isinstance(driver.outcome, Suspended)
