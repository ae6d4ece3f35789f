"""Child workflows, continue-as-new and compensations in the pure engine."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Continued, Failed, Suspended
from continuum_celery.engine.composition import MAX_CHILD_DEPTH, derived_run_id
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.errors import ActivityFailed, ChildDepthExceeded, RunCancelled, RunFailed
from tests.unit.driver import Driver, activity

CHILD = "tests.child"


def parent(count: int) -> list[Any]:
    handles = [workflow.start_child(CHILD, i) for i in range(count)]
    outcomes: list[Any] = []
    for handle in handles:
        try:
            outcomes.append(handle.result())
        except RunFailed as error:
            outcomes.append(f"failed: {error.error}")
        except RunCancelled:
            outcomes.append("cancelled")
    return outcomes


def test_children_are_started_in_one_decision_with_derived_ids() -> None:
    driver = Driver(parent, args=[3])
    decision = driver.step()
    assert [c.type for c in decision.commands] == ["child_started"] * 3
    ids = [c.data["child_run_id"] for c in decision.commands]
    assert ids == [derived_run_id("run-1", f"child:{CHILD}:{n}") for n in range(3)]
    assert len(set(ids)) == 3
    assert isinstance(decision.outcome, Suspended)
    assert driver.replay().commands == [], "replay never starts a second child"


def test_child_outcomes_reach_the_parent() -> None:
    driver = Driver(parent, args=[3])
    driver.step()
    started = driver.events("child_started")
    driver.append("child_completed", started[0].command_id, {"child_run_id": "a", "result": 7})
    driver.append("child_failed", started[1].command_id, {"child_run_id": "b", "error": "E: x"})
    driver.append("child_cancelled", started[2].command_id, {"child_run_id": "c"})
    assert driver.run() == Completed([7, "failed: E: x", "cancelled"])


def test_child_depth_is_bounded_with_a_clear_error() -> None:
    def deep() -> str:
        try:
            workflow.start_child(CHILD)
        except ChildDepthExceeded as error:
            return str(error)
        return "started"

    info = WorkflowInfo("run-1", "tests.deep", depth=MAX_CHILD_DEPTH)
    outcome = Driver(deep, info=info).run()
    assert outcome == Completed(
        f"cannot start {CHILD}: child workflows nest at most {MAX_CHILD_DEPTH} deep"
    )
    shallow = WorkflowInfo("run-1", "tests.deep", depth=MAX_CHILD_DEPTH - 1)
    assert Driver(deep, info=shallow).run() == Completed("started")


def test_continue_as_new_ends_the_run_and_names_its_successor() -> None:
    ran_after: list[bool] = []

    def looping(n: int) -> None:
        workflow.continue_as_new(n + 1, note="again")
        ran_after.append(True)

    decision = Driver(looping, args=[1]).step()
    next_id = derived_run_id("run-1", "continue_as_new:tests.workflow:0")
    assert decision.outcome == Continued(next_id)
    [command] = decision.commands
    assert command.type == "run_continued_as_new"
    assert command.data == {"next_run_id": next_id, "args": [2], "kwargs": {"note": "again"}}
    assert ran_after == []


book = activity(lambda item: f"booked {item}", "tests.book")
unbook = activity(lambda item: f"unbooked {item}", "tests.unbook")


def saga(parallel: bool) -> list[Any]:
    for item in ("flight", "hotel", "car"):
        book.options(compensate=unbook.bind(item))(item)
    return [[o.ok, o.result, o.error] for o in workflow.compensate_all(parallel=parallel)]


def complete_compensations(driver: Driver, fail: str | None = None) -> None:
    for event in driver.events("compensation_scheduled"):
        item = event.data["args"][0]
        if item == fail:
            data = {"activity": "tests.unbook", "error_type": "E", "message": "no"}
            driver.append("compensation_failed", event.command_id, data)
        else:
            data = {"activity": "tests.unbook", "result": f"unbooked {item}"}
            driver.append("compensation_completed", event.command_id, data)


def test_parallel_compensation_schedules_everything_newest_first_in_one_decision() -> None:
    driver = Driver(saga, [book, unbook], args=[True])
    driver.run()
    scheduled = driver.events("compensation_scheduled")
    assert [e.data["args"] for e in scheduled] == [["car"], ["hotel"], ["flight"]]
    assert [e.seq for e in scheduled] == list(range(scheduled[0].seq, scheduled[0].seq + 3))
    assert isinstance(driver.outcome, Suspended)
    complete_compensations(driver, fail="hotel")
    assert driver.run() == Completed(
        [[True, "unbooked car", None], [False, None, "E: no"], [True, "unbooked flight", None]]
    )


def test_sequential_compensation_waits_for_each_before_the_next() -> None:
    driver = Driver(saga, [book, unbook], args=[False])
    for expected in ("car", "hotel", "flight"):
        driver.run()
        pending = driver.events("compensation_scheduled")[-1]
        assert pending.data["args"] == [expected]
        complete_compensations_one(driver, pending.command_id, expected)
    outcome = driver.run()
    assert isinstance(outcome, Completed) and len(outcome.result) == 3
    assert driver.replay().commands == [], "replay rebuilt the stack from the history"


def complete_compensations_one(driver: Driver, command_id: str, item: str) -> None:
    data = {"activity": "tests.unbook", "result": f"unbooked {item}"}
    driver.append("compensation_completed", command_id, data)


def test_an_activity_that_failed_registers_no_compensation() -> None:
    def only_successes() -> int:
        book.options(compensate=unbook.bind("flight"))("flight")
        with contextlib.suppress(ActivityFailed):
            book.options(compensate=unbook.bind("hotel"))("hotel")
        return len(workflow.compensate_all(parallel=True))

    def inject(command: Any, attempt: int) -> BaseException | None:
        return ValueError("sold out") if command.data["args"] == ["hotel"] else None

    driver = Driver(only_successes, [book, unbook], inject=inject)
    driver.run()
    assert [e.data["args"] for e in driver.events("compensation_scheduled")] == [["flight"]]


def test_an_idempotency_key_can_be_a_function_of_the_arguments() -> None:
    pay = activity(lambda order, amount: amount, "tests.pay")

    def checkout() -> Any:
        return pay.options(idempotency_key=lambda order, amount: f"pay-{order}")("o-1", 5)

    decision = Driver(checkout, [pay]).step()
    assert decision.commands[0].data["idempotency_key"] == "pay-o-1"
    with pytest.raises(ValueError, match="idempotency_key"):
        pay.options(idempotency_key="")
    bad = Driver(lambda: pay.options(idempotency_key=lambda *a: 42)("o", 1), [pay]).run()
    assert isinstance(bad, Failed) and "idempotency_key" in bad.error
