"""Command identity: which code edits replay cleanly and which are drift."""

from __future__ import annotations

from collections import Counter

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Blocked, Completed, Suspended
from continuum_celery.engine.events import Event
from continuum_celery.errors import NotSerializable, ReplayDriftError
from tests.unit.driver import Driver, activity

calls: Counter[str] = Counter()


def _charge(amount: int) -> int:
    calls["charge"] += 1
    return amount * 100


def _ship(order: str) -> str:
    calls["ship"] += 1
    return f"label-{order}"


def _refund(amount: int) -> int:
    calls["refund"] += 1
    return -amount


charge = activity(_charge, "shop.charge")
ship = activity(_ship, "shop.ship")
refund = activity(_refund, "shop.refund")
ACTIVITIES = [charge, ship, refund]


def v1(order: str) -> list[object]:
    cents = charge(10)
    workflow.sleep(5)
    label = ship(order)
    return [cents, label]


V1_RESULT = [1000, "label-o-1"]
V1_TYPES = [
    "activity_scheduled",
    "activity_completed",
    "timer_started",
    "timer_fired",
    "activity_scheduled",
    "activity_completed",
]


@pytest.fixture
def v1_history() -> list[Event]:
    driver = Driver(v1, ACTIVITIES, ["o-1"], auto_fire=True)
    assert driver.run() == Completed(V1_RESULT)
    assert driver.types() == V1_TYPES
    calls.clear()
    return driver.history


def replay_against(fn: object, history: list[Event]) -> Driver:
    driver = Driver(fn, ACTIVITIES, ["o-1"], history=history)  # type: ignore[arg-type]
    driver.step()
    return driver


def _label_for(order: str) -> str:
    # moved into a helper; the call site changed, the effect did not
    return ship(order)


def v1_refactored(order: str) -> list[object]:
    """Same effects as v1, written differently."""
    workflow.logger.info("checkout for %s", order)  # new log line
    amount = 12 if workflow.patched("new-pricing") else 10  # old runs keep the old path
    steps = []
    for _ in range(1):  # a loop instead of a straight call
        steps.append(charge(amount))
    workflow.logger.info("charged")

    workflow.sleep(5)

    return [steps[0], _label_for(order)]


def test_refactoring_logging_and_patches_replay_an_old_history(v1_history: list[Event]) -> None:
    driver = replay_against(v1_refactored, v1_history)

    assert driver.outcome == Completed(V1_RESULT)
    assert driver.decisions[-1].commands == []
    assert driver.history == v1_history
    assert calls == Counter()


def test_refactored_code_continues_a_half_finished_old_run(v1_history: list[Event]) -> None:
    half = v1_history[:4]  # charged and slept, ship not scheduled yet
    driver = Driver(v1_refactored, ACTIVITIES, ["o-1"], history=half)

    assert driver.run() == Completed(V1_RESULT)
    assert driver.types()[4:] == ["activity_scheduled", "activity_completed"]
    assert driver.history[4].command_id == "activity:shop.ship:0"


def test_changed_arguments_are_not_drift(v1_history: list[Event]) -> None:
    def different_args(order: str) -> list[object]:
        cents = charge(99)
        workflow.sleep(60)
        return [cents, ship(order + "-x")]

    driver = replay_against(different_args, v1_history)
    # identity is kind, target and ordinal; arguments are not compared
    assert driver.outcome == Completed(V1_RESULT)


def drift(seq: int, expected: str, actual: str) -> Blocked:
    return Blocked(f"ReplayDriftError: seq {seq} expected {expected}, got {actual}")


def test_calling_another_activity_drifts(v1_history: list[Event]) -> None:
    def changed(order: str) -> list[object]:
        cents = refund(10)
        workflow.sleep(5)
        return [cents, ship(order)]

    driver = replay_against(changed, v1_history)
    assert driver.outcome == drift(
        1, "activity_scheduled activity:shop.charge:0", "activity_scheduled activity:shop.refund:0"
    )
    assert driver.decisions[-1].commands == []
    assert driver.history == v1_history
    assert calls == Counter()


def test_swapping_two_steps_drifts(v1_history: list[Event]) -> None:
    def swapped(order: str) -> list[object]:
        workflow.sleep(5)
        cents = charge(10)
        return [cents, ship(order)]

    driver = replay_against(swapped, v1_history)
    assert driver.outcome == drift(
        1, "activity_scheduled activity:shop.charge:0", "timer_started timer:sleep:0"
    )
    assert driver.decisions[-1].commands == []


def test_swapping_two_activities_drifts(v1_history: list[Event]) -> None:
    def swapped(order: str) -> list[object]:
        label = ship(order)
        workflow.sleep(5)
        return [charge(10), label]

    driver = replay_against(swapped, v1_history)
    assert driver.outcome == drift(
        1, "activity_scheduled activity:shop.charge:0", "activity_scheduled activity:shop.ship:0"
    )


def test_removing_a_middle_step_drifts(v1_history: list[Event]) -> None:
    def no_sleep(order: str) -> list[object]:
        cents = charge(10)
        return [cents, ship(order)]

    driver = replay_against(no_sleep, v1_history)
    assert driver.outcome == drift(
        3, "timer_started timer:sleep:0", "activity_scheduled activity:shop.ship:0"
    )
    assert driver.decisions[-1].commands == []
    assert driver.history == v1_history


def test_removing_the_last_step_drifts(v1_history: list[Event]) -> None:
    def no_ship(order: str) -> list[object]:
        cents = charge(10)
        workflow.sleep(5)
        return [cents, "no label"]

    driver = replay_against(no_ship, v1_history)
    assert driver.outcome == drift(
        5, "activity_scheduled activity:shop.ship:0", "workflow completed"
    )


def test_raising_before_the_recorded_end_is_reported_as_drift(v1_history: list[Event]) -> None:
    def gives_up(order: str) -> list[object]:
        charge(10)
        raise ValueError("changed my mind")

    driver = replay_against(gives_up, v1_history)
    assert driver.outcome == drift(3, "timer_started timer:sleep:0", "workflow raised ValueError")


def test_waiting_with_recorded_decisions_left_over_drifts() -> None:
    history = [
        Event(1, "activity_scheduled", "activity:shop.charge:0", {}),
        Event(2, "activity_scheduled", "activity:shop.ship:0", {}),
    ]

    def only_charge() -> int:
        return charge.start(1).result()

    driver = Driver(only_charge, ACTIVITIES, history=history)
    driver.step()
    assert driver.outcome == drift(
        2,
        "activity_scheduled activity:shop.ship:0",
        "workflow waiting on activity:shop.charge:0",
    )


def stubborn(order: str) -> str:
    try:  # noqa: SIM105 - the pattern under test, spelled out
        refund(10)
    except ReplayDriftError:
        pass
    try:
        workflow.sleep(5)  # any further effect re-raises the drift
    except Exception as error:
        return f"swallowed {type(error).__name__}"
    return "carried on"


def test_workflow_code_cannot_swallow_drift(v1_history: list[Event]) -> None:
    driver = replay_against(stubborn, v1_history)
    outcome = driver.outcome
    assert isinstance(outcome, Blocked)
    assert outcome.error.startswith("ReplayDriftError: seq 1 expected activity_scheduled")
    assert driver.decisions[-1].commands == []
    assert driver.history == v1_history


def test_swallowed_drift_still_names_the_effect_that_diverged(v1_history: list[Event]) -> None:
    driver = replay_against(stubborn, v1_history)
    assert driver.outcome == drift(
        1, "activity_scheduled activity:shop.charge:0", "activity_scheduled activity:shop.refund:0"
    )


def test_drift_is_detected_before_the_live_tail_adds_commands(v1_history: list[Event]) -> None:
    half = v1_history[:2]  # charge done; sleep is the next new command in v1

    def renamed_timer(order: str) -> list[object]:
        cents = charge(10)
        workflow.wait_signal("go", timeout=5)
        return [cents, ship(order)]

    ok = Driver(v1, ACTIVITIES, ["o-1"], history=half)
    ok.step()
    assert ok.outcome == Suspended(("timer:sleep:0",))
    assert [c.type for c in ok.decisions[-1].commands] == ["timer_started"]

    changed = Driver(renamed_timer, ACTIVITIES, ["o-1"], history=v1_history[:4])
    changed.step()
    assert changed.outcome == drift(3, "timer_started timer:sleep:0", "signal_awaited signal:go:0")
    assert changed.decisions[-1].commands == []
    assert changed.history == v1_history[:4]


def refuses_then_ships(order: str) -> list[object]:
    """An activity call whose arguments cannot be journaled is refused live, so it
    leaves no event; replaying from the top must refuse it again, not drift."""
    try:
        charge("nul \x00 byte")  # type: ignore[arg-type]
        refused = "accepted"
    except NotSerializable as error:
        refused = type(error).__name__
    try:
        workflow.upsert_attributes({"bad": "lone \ud800 half"})
    except NotSerializable as error:
        refused += f", {type(error).__name__}"
    return [refused, ship(order)]


def test_a_call_refused_live_is_refused_again_on_a_replay_from_the_top() -> None:
    driver = Driver(refuses_then_ships, ACTIVITIES, ["o-1"])
    assert driver.run() == Completed(["NotSerializable, NotSerializable", "label-o-1"])
    assert driver.types() == ["activity_scheduled", "activity_completed"]
