"""Cooperative cancel: ``workflow.Cancelled`` is raised at the wait the run is at,
once, and the workflow may clean up before it ends (or return instead)."""

from __future__ import annotations

from typing import Any

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import CancelledOutcome, Completed, Suspended
from continuum_celery.engine.replay import replay
from continuum_celery.engine.retry import RetryPolicy
from tests.unit.driver import Driver, FakeLive, activity
from tests.unit.lockstep import LockstepDriver
from tests.unit.test_replay import INFO

ONCE = RetryPolicy(max_attempts=1)
charge = activity(lambda amount: f"charged {amount}", "shop.charge", retry=ONCE)
refund = activity(lambda receipt: f"refunded {receipt}", "shop.refund", retry=ONCE)
ship = activity(lambda: "shipped", "shop.ship", retry=ONCE)
ACTIVITIES = [charge, refund, ship]
CHARGE, SHIP = "activity:shop.charge:0", "activity:shop.ship:0"


def saga() -> str:
    """Charge, then ship; a cancel while shipping refunds the charge, then re-raises."""
    receipt = charge.options(compensate=refund.bind("r-1"))(10)
    try:
        ship()
    except workflow.Cancelled:
        workflow.compensate_all()
        raise
    return str(receipt)


REFUND = "compensation:shop.refund:0"


def refunded(driver: Driver) -> None:
    driver.append("compensation_completed", REFUND, {"result": "refunded r-1"})


def test_a_cancel_reaches_the_wait_and_the_saga_compensates_before_ending_cancelled() -> None:
    driver = Driver(saga, ACTIVITIES, hold=lambda c: c.command_id == SHIP)
    assert driver.run() == Suspended((SHIP,))

    driver.cancel("customer asked")
    assert driver.run() == Suspended((REFUND,))  # cleanup runs after the cancel
    refunded(driver)

    assert driver.run() == CancelledOutcome("customer asked")
    assert driver.executions["shop.ship"] == 0  # held, never run: the cancel came first
    types = [e.type for e in driver.history]
    assert types.index("cancel_requested") < types.index("compensation_scheduled")


def test_a_workflow_that_returns_after_the_cancel_ends_completed() -> None:
    def forgiving() -> str:
        try:
            workflow.sleep(3600)
        except workflow.Cancelled as cancelled:
            return f"stopped early: {cancelled.reason}"
        return "slept"

    driver = Driver(forgiving)
    driver.run()
    driver.cancel("not needed")

    assert driver.run() == Completed("stopped early: not needed")


def test_except_exception_does_not_swallow_a_cancel() -> None:
    def careless() -> str:
        try:
            workflow.wait_signal("go")
        except Exception:
            return "swallowed"
        return "went"

    driver = Driver(careless)
    driver.run()
    driver.cancel()

    assert driver.run() == CancelledOutcome(None)


def test_what_landed_after_the_cancel_is_not_seen_at_the_wait() -> None:
    driver = Driver(saga, ACTIVITIES, hold=lambda c: c.command_id == SHIP)
    driver.run()
    driver.cancel("late")
    driver.complete(SHIP, "shipped anyway")  # the body finished a moment later

    outcome = replay(saga, [], {}, driver.history, INFO, FakeLive())

    assert [c.type for c in outcome.commands] == ["compensation_scheduled"]


def test_what_landed_before_the_cancel_is_seen_and_the_next_wait_gets_it() -> None:
    def two_steps() -> list[Any]:
        seen: list[Any] = [charge(1)]
        try:
            seen.append(ship())
        except workflow.Cancelled:
            seen.append("cancelled at ship")
        return seen

    driver = Driver(two_steps, ACTIVITIES, hold=lambda c: True)
    driver.run()
    driver.complete(CHARGE, "charged 1")
    driver.cancel()  # lands before the replay that would schedule the shipment

    assert driver.run() == Completed(["charged 1", "cancelled at ship"])
    assert driver.events("activity_scheduled")[-1].command_id == SHIP


@pytest.mark.parametrize("cut", ["gather", "child", "signal"])
def test_a_cancel_reaches_every_kind_of_wait(cut: str) -> None:
    def waits() -> str:
        try:
            if cut == "gather":
                workflow.gather(charge.start(1), ship.start())
            elif cut == "child":
                workflow.run_child("tests.child", 1)
            else:
                workflow.wait_signal("go", timeout=60)
        except workflow.Cancelled:
            return "cancelled"
        return "done"

    driver = Driver(waits, ACTIVITIES, hold=lambda c: True)
    driver.run()
    driver.cancel()
    assert driver.run() == Completed("cancelled")


def test_a_resident_instance_decides_as_a_replay_from_the_top_around_a_cancel() -> None:
    driver = LockstepDriver(saga, ACTIVITIES, hold=lambda c: c.command_id == SHIP)
    driver.run()
    driver.cancel("customer asked")
    driver.complete(SHIP, "shipped anyway")
    assert driver.run() == Suspended((REFUND,))  # each step checked against replay()
    refunded(driver)

    assert driver.run() == CancelledOutcome("customer asked")
    assert driver.cache.builds == 1, "the live instance took the cancel in"
