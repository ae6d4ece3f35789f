"""The resident cache trusts no history it is handed, and unwinds what it drops.

Every decision below goes through :class:`LockstepDriver`, which checks it against
a from-the-top replay of the same history; ``builds`` tells whether the cache had
to start over.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import greenlet
import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import (
    Blocked,
    Completed,
    Continued,
    Decision,
    Failed,
    Suspended,
)
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from continuum_celery.engine.residents import ResidentCache
from continuum_celery.errors import SignalTimeout
from tests.unit.driver import FakeLive, activity
from tests.unit.lockstep import LockstepDriver

step_a = activity(lambda: "a", "steps.a")
step_b = activity(lambda: "b", "steps.b")
add = activity(lambda a, b: a + b, "math.add")
undo = activity(lambda n: f"undone {n}", "math.undo")
ACTIVITIES = [step_a, step_b, add, undo]


def stamped() -> list[Any]:
    """Journals a live value, then uses it: a stale instance would show it."""
    first = workflow.now().isoformat()
    return [first, step_a(), workflow.now().isoformat()]


def counting(steps: int) -> int:
    total = 0
    for i in range(steps):
        total = add(total, i)
    return total


def held(command: Any) -> bool:
    return True


# --- the history must continue what the instance saw and made ----------------------------


def test_a_rolled_back_commit_is_decided_again_from_the_top() -> None:
    driver = LockstepDriver(stamped)
    first = driver.replay()  # decided, then the commit rolled back: nothing journaled
    again = driver.replay()

    assert driver.cache.builds == 2
    assert first.commands[0].data["value"] != again.commands[0].data["value"]


def test_a_run_advanced_elsewhere_with_other_values_is_decided_from_the_top() -> None:
    driver = LockstepDriver(stamped, ACTIVITIES, hold=held)
    driver.replay()  # ours: rolled back; another worker journaled its own decision
    elsewhere = "2030-01-01T00:00:00+00:00"
    driver.append("side_effect", "side_effect:now:0", {"kind": "now", "value": elsewhere})
    driver.append("activity_scheduled", "activity:steps.a:0", {"activity": "steps.a"})
    driver.complete("activity:steps.a:0", "a")

    decision = driver.replay()

    assert driver.cache.builds == 2
    assert isinstance(decision.outcome, Completed)
    assert decision.outcome.result[0] == elsewhere


def test_a_run_advanced_elsewhere_to_the_same_decisions_resumes() -> None:
    driver = LockstepDriver(counting, ACTIVITIES, args=[3], hold=held)
    made = driver.replay().commands[0]
    driver.append(made.type, made.command_id, made.data | {"task_id": "another worker's"})
    driver.complete(made.command_id, 0)

    driver.replay()

    assert (driver.cache.builds, driver.cache.resumes) == (1, 1)


def test_a_shorter_history_is_decided_from_the_top() -> None:
    driver = LockstepDriver(counting, ACTIVITIES, args=[5])
    for _ in range(3):
        driver.step()
    driver.history = driver.history[:2]

    driver.replay()

    assert driver.cache.builds == 2


def test_a_different_event_at_the_seen_end_is_decided_from_the_top() -> None:
    driver = LockstepDriver(counting, ACTIVITIES, args=[5])
    driver.step()
    driver.step()  # the instance has seen the first two events
    seen = driver.history[1]
    driver.history[1] = Event(seen.seq, "activity_failed", seen.command_id,
                              {"error_type": "E", "message": "m"})  # fmt: skip

    decision = driver.replay()

    assert driver.cache.builds == 2
    assert isinstance(decision.outcome, Blocked)


def test_other_data_for_the_made_decisions_is_decided_from_the_top() -> None:
    """Another deploy journaled the same activity with another compensation."""

    def booking() -> Any:
        add.options(compensate=undo.bind(1))(1, 2)
        return [o.result for o in workflow.compensate_all()]

    driver = LockstepDriver(booking, ACTIVITIES, hold=held)
    made = driver.replay().commands[0]
    other = made.data["compensate"] | {"args": [99]}
    driver.append(made.type, made.command_id, made.data | {"compensate": other})
    driver.complete(made.command_id, 3)

    decision = driver.replay()

    assert driver.cache.builds == 2
    assert decision.commands[0].data["args"] == [99]


def test_the_first_of_two_resolutions_wins_as_in_a_replay() -> None:
    def waits() -> Any:
        try:
            return workflow.wait_signal("go", timeout=5)
        except SignalTimeout:
            return "timed out"

    driver = LockstepDriver(waits)
    driver.step()
    driver.fire("signal:go:0")
    driver.append("signal_received", "signal:go:0", {"name": "go", "payload": 1})

    assert driver.replay().outcome == Completed("timed out")
    assert driver.cache.resumes == 1


def test_more_new_decisions_than_made_are_decided_from_the_top() -> None:
    driver = LockstepDriver(counting, ACTIVITIES, args=[5])
    driver.step()
    driver.append("workflow_log", "workflow_log:log:0", {"level": "INFO", "message": "x"})

    driver.replay()

    assert driver.cache.builds == 2


def test_made_decisions_in_another_order_are_decided_from_the_top() -> None:
    def both() -> list[str]:
        return workflow.gather(step_a.start(), step_b.start())

    driver = LockstepDriver(both, ACTIVITIES, hold=held)
    first, second = driver.replay().commands
    driver.append(second.type, second.command_id, second.data)
    driver.append(first.type, first.command_id, first.data)

    decision = driver.replay()

    assert driver.cache.builds == 2
    assert isinstance(decision.outcome, Blocked)  # the recorded order is not the code's


@pytest.mark.parametrize(
    "change",
    [
        {"args": [4]},
        {"fn": lambda steps: counting(steps) + 1},
        {"info": WorkflowInfo("run-1", "tests.workflow", version=2)},
        {"info": WorkflowInfo("run-1", "tests.other")},
        {"live": FakeLive()},
    ],
    ids=["args", "code", "version", "workflow", "live sources"],
)
def test_other_inputs_for_the_same_run_are_decided_from_the_top(change: dict[str, Any]) -> None:
    driver = LockstepDriver(counting, ACTIVITIES, args=[3])
    driver.step()
    for name, value in change.items():
        setattr(driver, name, value)
    driver.twin = FakeLive()

    driver.replay()

    assert driver.cache.builds == 2


def test_an_instance_works_on_its_own_copy_of_the_arguments() -> None:
    def appends(items: list[Any]) -> list[Any]:
        items.append(step_a())
        items.append(step_b())
        return items

    driver = LockstepDriver(appends, ACTIVITIES, args=[[1]])
    assert driver.run() == Completed([1, "a", "b"])
    assert driver.args == [[1]], "the caller's arguments are left alone"
    assert driver.cache.builds == 1


def test_resolutions_among_the_made_decisions_fit() -> None:
    def waits() -> Any:
        return [workflow.wait_signal("go"), step_a()]

    driver = LockstepDriver(waits, ACTIVITIES)
    driver.signal("go", 1)  # buffered: the journal answers the await in the same commit
    awaited = driver.replay().commands[0]
    driver.append(awaited.type, awaited.command_id, awaited.data)
    driver.append("signal_received", awaited.command_id, {"name": "go", "payload": 1})
    driver.append("timer_fired", "timer:unrelated:0", {})

    driver.replay()

    assert (driver.cache.builds, driver.cache.resumes) == (1, 1)


def _config() -> Any:
    value = workflow.side_effect(lambda: {"b": 1, "a": 2}, name="config")
    return [list(value), step_a()]


def _journal_side_effect_as(driver: LockstepDriver, value: dict[str, Any]) -> None:
    for command in driver.replay().commands:
        stored = {"value": value} if command.type == "side_effect" else {}
        driver.append(command.type, command.command_id, command.data | stored)
    driver.complete("activity:steps.a:0", "a")


def test_a_side_effect_value_is_made_in_journal_key_order_so_the_instance_goes_on() -> None:
    driver = LockstepDriver(_config, ACTIVITIES, hold=held)
    _journal_side_effect_as(driver, {"a": 2, "b": 1})  # as a jsonb column hands it back
    assert driver.replay().outcome == Completed([["a", "b"], "a"])
    assert driver.cache.builds == 1


def test_a_side_effect_value_journaled_in_another_key_order_is_decided_from_the_top() -> None:
    driver = LockstepDriver(_config, ACTIVITIES, hold=held)
    _journal_side_effect_as(driver, {"b": 1, "a": 2})
    assert driver.replay().outcome == Completed([["b", "a"], "a"])
    assert driver.cache.builds == 2


# --- how instances end ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ended"),
    [
        (lambda: step_a(), Completed),
        (lambda: [step_a(), 1 / 0], Failed),
        (lambda: [step_a(), workflow.continue_as_new()], Continued),
    ],
    ids=["completed", "failed", "continued"],
)
def test_an_ended_run_leaves_the_cache(body: Any, ended: type) -> None:
    driver = LockstepDriver(body, ACTIVITIES)
    driver.step()
    assert "run-1" in driver.cache

    assert isinstance(driver.step().outcome, ended)
    assert "run-1" not in driver.cache


seen_unwinding: list[str] = []


def records_unwinding(steps: int) -> int:
    try:
        return counting(steps)
    finally:
        seen_unwinding.append(type(sys.exc_info()[1]).__name__)
        workflow.logger.info("unwinding")  # an effect while unwinding keeps unwinding


def test_drift_past_a_wait_while_building_fails_as_replay_does_after_unwinding() -> None:
    recorded = [  # code that scheduled both before waiting: this code waits in between
        Event(1, "activity_scheduled", "activity:math.add:0", {"activity": "math.add"}),
        Event(2, "activity_scheduled", "activity:math.add:1", {"activity": "math.add"}),
    ]
    seen_unwinding.clear()
    driver = LockstepDriver(records_unwinding, ACTIVITIES, args=[2], history=recorded)

    decision = driver.replay()

    assert decision == Decision([], Blocked(
        "ReplayDriftError: seq 2 expected activity_scheduled activity:math.add:1, "
        "got workflow waiting on activity:math.add:0"))  # fmt: skip
    assert "run-1" not in driver.cache
    assert seen_unwinding == ["Suspend", "Suspend"], "the instance, then the replay"


def test_drift_at_the_first_effect_fails_as_replay_does() -> None:
    history = LockstepDriver(counting, ACTIVITIES, args=[2])
    history.run()
    driver = LockstepDriver(lambda: step_b(), ACTIVITIES, history=history.history)

    decision = driver.replay()

    assert isinstance(decision.outcome, Blocked)
    assert decision.outcome.error.startswith("ReplayDriftError")
    assert "run-1" not in driver.cache


def test_stale_markers_after_a_wait_are_met_where_replay_meets_them() -> None:
    """Old code logged and patched between starting an activity and waiting for it.

    A replay from the top finds those markers again after the wait; a resumed
    instance must too, rather than journal them anew.
    """

    def moved() -> list[Any]:
        handle = step_a.start()
        result = handle.result()
        workflow.logger.info("started")
        return [result, workflow.patched("fix")]

    old = [
        Event(1, "activity_scheduled", "activity:steps.a:0", {"activity": "steps.a"}),
        Event(2, "workflow_log", "workflow_log:log:0", {"level": "INFO", "message": "started"}),
        Event(3, "patched", "patched:fix:0", {"patch_id": "fix", "value": False}),
    ]
    driver = LockstepDriver(moved, ACTIVITIES, history=old)
    assert isinstance(driver.replay().outcome, Suspended)
    driver.complete("activity:steps.a:0", "a")

    decision = driver.replay()

    assert decision.commands == []
    assert decision.outcome == Completed(["a", False])
    assert driver.cache.resumes == 1


def test_swallowing_the_suspension_is_caught_only_from_the_top() -> None:
    """The documented difference: a resident instance never unwinds at a wait."""

    def swallows() -> str:
        try:  # noqa: SIM105 - the pattern under test, spelled out
            step_a()
        except BaseException:
            pass
        return "done"

    info = WorkflowInfo("run-1", "tests.workflow")
    from_top = replay(swallows, [], {}, [], info, FakeLive())
    resident = ResidentCache().decide(swallows, [], {}, [], info, FakeLive())

    assert isinstance(from_top.outcome, Failed)
    assert from_top.outcome.error.startswith("SuspendSwallowed")
    assert resident.outcome == Suspended(("activity:steps.a:0",))


class Escape(BaseException):
    pass


def test_a_base_exception_escapes_decide_as_it_escapes_replay() -> None:
    def escapes() -> None:
        step_a()
        raise Escape

    driver = LockstepDriver(escapes, ACTIVITIES)
    driver.step()
    with pytest.raises(Escape):
        driver.cache.decide(escapes, [], {}, driver.history, driver.info, driver.live)
    assert len(driver.cache) == 0


# --- eviction ------------------------------------------------------------------------------

unwound: list[tuple[str, str]] = []
greenlets: list[Any] = []


@contextmanager
def tracked(name: str) -> Iterator[None]:
    try:
        yield
    finally:
        unwound.append((name, type(sys.exc_info()[1]).__name__))


def long_lived(name: str) -> int:
    if greenlet.getcurrent().parent is not None:
        greenlets.append(greenlet.getcurrent())
    with tracked(name):
        try:
            return counting(100)
        finally:
            workflow.logger.info("leaving")


def resident_run(cache: ResidentCache, name: str) -> LockstepDriver:
    """A run of ``long_lived`` one step in; ``unwound`` only shows the instance's exit."""
    driver = LockstepDriver(long_lived, ACTIVITIES, args=[name], cache=cache,
                            info=WorkflowInfo(name, "tests.workflow"))  # fmt: skip
    driver.step()
    unwound.clear()  # the reference replay unwinds too; forget that
    return driver


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    unwound.clear()
    greenlets.clear()


def test_eviction_unwinds_the_least_recently_used_instance_like_a_suspension() -> None:
    cache = ResidentCache(capacity=2)
    first = resident_run(cache, "first")
    resident_run(cache, "second")
    first.step()  # first is now the most recently used

    resident_run(cache, "third")

    assert ("first" in cache, "second" in cache, "third" in cache) == (True, False, True)
    assert [g.dead for g in greenlets] == [False, True, False]


def test_an_evicted_instance_runs_its_finally_blocks_seeing_a_suspension() -> None:
    cache = ResidentCache(capacity=1)
    resident_run(cache, "first")
    evicted = greenlets[-1]
    LockstepDriver(counting, ACTIVITIES, args=[3], cache=cache).step()

    assert unwound == [("first", "Suspend")]
    assert evicted.dead
    assert "first" not in cache


def test_capacity_bounds_the_cache_and_every_dropped_instance_is_unwound() -> None:
    cache = ResidentCache(capacity=4)
    for n in range(20):
        resident_run(cache, f"run-{n}")
        assert len(cache) <= 4

    assert sum(g.dead for g in greenlets) == 16
    cache.clear()
    assert all(g.dead for g in greenlets)
    assert len(cache) == 0


def test_an_evicted_instance_is_never_resumed() -> None:
    cache = ResidentCache(capacity=1)
    first = resident_run(cache, "first")
    resident_run(cache, "second")
    builds = cache.builds

    first.step()

    assert cache.builds == builds + 1
    assert greenlets[0].dead and not greenlets[-1].dead


def test_a_dropped_cache_still_unwinds_its_instances() -> None:
    cache = ResidentCache()
    resident_run(cache, "first")
    greenlets.clear()  # nothing but the cache may keep the instance alive
    del cache  # no reference cycle: freed (and unwound) right here, no collection needed

    assert unwound == [("first", "Suspend")]


def test_capacity_zero_replays_from_the_top_every_time() -> None:
    driver = LockstepDriver(counting, ACTIVITIES, args=[3], cache=ResidentCache(capacity=0))
    assert driver.run() == Completed(3)
    assert driver.cache.builds == 0 and len(driver.cache) == 0
