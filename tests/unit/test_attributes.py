"""workflow.upsert_attributes: a journaled decision that changes the run's attributes."""

from __future__ import annotations

from typing import Any

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Blocked, Completed
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.resident import Call, Resident
from tests.unit.driver import Driver, FakeLive, activity

INFO = WorkflowInfo("run-1", "tests.workflow", attributes={"customer": "c-1", "old": 1})


def _ship(order: str) -> str:
    return f"shipped {order}"


ship = activity(_ship, "shop.ship")


def order_flow() -> list[dict[str, Any]]:
    seen = [workflow.info().attributes]
    workflow.upsert_attributes({"stage": "paid", "old": None})
    seen.append(workflow.info().attributes)
    ship("o-1")
    workflow.upsert_attributes({"stage": "shipped", "tags": ["a", 2, 1e16]})
    seen.append(workflow.info().attributes)
    return seen


EXPECTED = [
    {"customer": "c-1", "old": 1},
    {"customer": "c-1", "stage": "paid"},
    {"customer": "c-1", "stage": "shipped", "tags": ["a", 2, 10**16]},
]


def test_upserts_are_decided_once_in_order_with_the_starting_attributes_as_base() -> None:
    driver = Driver(order_flow, [ship], info=INFO)
    assert driver.run() == Completed(EXPECTED)
    upserts = driver.events("attributes_upserted")
    assert [(e.command_id, e.data) for e in upserts] == [
        ("attributes:upsert:0",
         {"set": {"stage": "paid"}, "unset": ["old"], "base": {"customer": "c-1", "old": 1}}),
        ("attributes:upsert:1", {"set": {"tags": ["a", 2, 10**16], "stage": "shipped"},
                                 "unset": []}),
    ]  # fmt: skip
    assert isinstance(EXPECTED[2]["tags"][2], int)


def test_a_replay_with_current_attributes_sees_what_the_live_run_saw() -> None:
    live = Driver(order_flow, [ship], info=INFO)
    live.run()
    current = WorkflowInfo("run-1", "tests.workflow", attributes=EXPECTED[-1])
    again = Driver(order_flow, [ship], info=current, history=live.history)
    decision = again.step()
    assert decision.outcome == Completed(EXPECTED)
    assert decision.commands == []


def test_removing_the_upsert_is_drift() -> None:
    live = Driver(order_flow, [ship], info=INFO)
    live.run()

    def without_upserts() -> str:
        return ship("o-1")

    decision = Driver(without_upserts, [ship], info=INFO, history=live.history).step()
    assert isinstance(decision.outcome, Blocked)
    assert "attributes_upserted attributes:upsert:0" in decision.outcome.error


def test_an_upsert_the_history_lacks_is_drift_before_a_recorded_decision() -> None:
    live = Driver(order_flow, [ship], info=INFO)
    live.run()

    def upserts_first() -> str:
        workflow.upsert_attributes({"extra": 1})
        return order_flow()  # type: ignore[return-value]

    decision = Driver(upserts_first, [ship], info=INFO, history=live.history).step()
    assert isinstance(decision.outcome, Blocked)


def test_a_resident_instance_decides_as_a_replay_from_the_top() -> None:
    live = Driver(order_flow, [ship], info=INFO, hold=lambda command: True)
    live.step()
    resident, first = Resident.start(Call(order_flow, [], {}, INFO, FakeLive(), 2**18), [])
    assert first == live.decisions[0]
    command_id = next(iter(live.held))
    live.run_activity(command_id)
    call = Call(order_flow, [], {}, INFO, resident.call.live, 2**18)
    new = resident.fits(call, live.history)
    assert new is not None
    assert resident.resume(new) == live.step()
    assert live.outcome == Completed(EXPECTED)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"": 1}, ValueError),
        ({"a.b": 1}, ValueError),
        ({"spa ce": 1}, ValueError),
        ({1: 1}, TypeError),
        ({"nested": {"a": 1}}, TypeError),
        ({"deep": [[1]]}, TypeError),
        ({"deep": [None]}, TypeError),
        (["not", "a", "dict"], TypeError),
    ],
)
def test_bad_keys_and_values_are_refused_before_anything_is_journaled(
    changes: Any, error: type[Exception]
) -> None:
    def flow() -> None:
        workflow.upsert_attributes(changes)

    driver = Driver(flow, info=INFO)
    outcome = driver.run()
    assert error.__name__ in str(outcome)
    assert driver.history == []


def test_values_must_fit_the_payload_limit() -> None:
    def flow() -> None:
        workflow.upsert_attributes({"big": "x" * 300_000})

    driver = Driver(flow, info=INFO)
    assert "PayloadTooLarge" in str(driver.run())
    assert driver.history == []


def test_upsert_outside_a_workflow_is_refused() -> None:
    with pytest.raises(Exception, match="inside workflow code"):
        workflow.upsert_attributes({"a": 1})


def test_info_attributes_are_a_private_copy() -> None:
    def flow() -> dict[str, Any]:
        workflow.upsert_attributes({"tags": [1]})
        workflow.info().attributes["tags"].append(2)
        return workflow.info().attributes

    assert Driver(flow, info=INFO).run() == Completed({"customer": "c-1", "old": 1, "tags": [1]})
