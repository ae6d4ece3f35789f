"""Replay from the top: recorded effects, the live tail, chains and parallel activities."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Command, Completed, Failed, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from continuum_celery.engine.residents import ResidentCache
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.errors import ActivityFailed
from tests.unit.driver import Driver, FakeLive, activity

INFO = WorkflowInfo("run-1", "tests.workflow")
calls: Counter[str] = Counter()


def _charge(amount: int, currency: str = "EUR") -> dict[str, Any]:
    calls["charge"] += 1
    return {"charged": amount, "currency": currency}


def _ship(order: str) -> str:
    calls["ship"] += 1
    return f"shipped {order}"


def _double(x: int) -> int:
    calls["double"] += 1
    return 2 * x


charge = activity(_charge, "shop.charge")
ship = activity(_ship, "shop.ship")
double = activity(_double, "math.double", retry=RetryPolicy(max_attempts=1))


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def checkout(order: str, amount: int) -> dict[str, Any]:
    receipt = charge(amount, currency="USD")
    label = ship(order)
    return {"receipt": receipt, "label": label}


def test_first_replay_schedules_exactly_one_command_and_suspends() -> None:
    decision = replay(checkout, ["o-1", 30], {}, [], INFO, FakeLive())

    assert decision.outcome == Suspended(("activity:shop.charge:0",))
    assert len(decision.commands) == 1
    command = decision.commands[0]
    assert command.type == "activity_scheduled"
    assert command.command_id == "activity:shop.charge:0"
    assert command.data["activity"] == "shop.charge"
    assert command.data["args"] == [30]
    assert command.data["kwargs"] == {"currency": "USD"}
    assert command.data["attempt"] == 1
    assert command.data["timeout"] == 60.0
    assert command.data["retry"]["max_attempts"] is None  # retries without limit by default
    assert calls == Counter()  # scheduling never runs the activity in-process


def test_recorded_results_are_returned_without_calling_the_activity_again() -> None:
    history = [
        Event(1, "activity_scheduled", "activity:shop.charge:0", {"activity": "shop.charge"}),
        Event(2, "activity_completed", "activity:shop.charge:0", {"result": {"charged": 7}}),
    ]
    decision = replay(checkout, ["o-1", 30], {}, history, INFO, FakeLive())

    assert calls == Counter()
    assert [(c.type, c.command_id) for c in decision.commands] == [
        ("activity_scheduled", "activity:shop.ship:0")
    ]
    assert decision.commands[0].data["args"] == ["o-1"]
    assert decision.outcome == Suspended(("activity:shop.ship:0",))

    history += [
        Event(3, "activity_scheduled", "activity:shop.ship:0", {"activity": "shop.ship"}),
        Event(4, "activity_completed", "activity:shop.ship:0", {"result": "label-9"}),
    ]
    final = replay(checkout, ["o-1", 30], {}, history, INFO, FakeLive())
    assert calls == Counter()
    assert final.commands == []
    # the journaled values win, not what the functions would return today
    assert final.outcome == Completed({"receipt": {"charged": 7}, "label": "label-9"})


def test_scheduled_but_unfinished_activity_keeps_the_run_suspended() -> None:
    history = [Event(1, "activity_scheduled", "activity:shop.charge:0", {})]
    decision = replay(checkout, ["o-1", 30], {}, history, INFO, FakeLive())
    assert decision.commands == []
    assert decision.outcome == Suspended(("activity:shop.charge:0",))


def test_driver_runs_each_activity_once_across_all_replays() -> None:
    driver = Driver(checkout, [charge, ship], ["o-2", 12])
    outcome = driver.run()

    assert outcome == Completed(
        {"receipt": {"charged": 12, "currency": "USD"}, "label": "shipped o-2"}
    )
    assert calls == Counter({"charge": 1, "ship": 1})
    assert len(driver.decisions) == 3
    assert [len(d.commands) for d in driver.decisions] == [1, 1, 0]
    assert driver.types() == [
        "activity_scheduled",
        "activity_completed",
        "activity_scheduled",
        "activity_completed",
    ]


def test_ten_chained_activities_journal_one_completion_per_schedule() -> None:
    def chain(start: int) -> int:
        value = start
        for _ in range(10):
            value = double(value) + 1
        return value

    driver = Driver(chain, [double], [3])
    outcome = driver.run()

    expected = 3
    for _ in range(10):
        expected = 2 * expected + 1
    assert outcome == Completed(expected)
    assert calls["double"] == 10
    assert [e.seq for e in driver.history] == list(range(1, 21))
    scheduled = [e.command_id for e in driver.events("activity_scheduled")]
    completed = [e.command_id for e in driver.events("activity_completed")]
    assert scheduled == [f"activity:math.double:{n}" for n in range(10)]
    assert completed == scheduled
    assert driver.types() == ["activity_scheduled", "activity_completed"] * 10


def fan_out(n: int) -> list[int]:
    handles = [double.start(i) for i in range(n)]
    return workflow.gather(*handles)


def test_start_and_gather_schedule_all_then_suspend_on_all() -> None:
    decision = replay(fan_out, [8], {}, [], INFO, FakeLive())

    ids = [f"activity:math.double:{i}" for i in range(8)]
    assert [c.command_id for c in decision.commands] == ids
    assert {c.type for c in decision.commands} == {"activity_scheduled"}
    assert [c.data["args"] for c in decision.commands] == [[i] for i in range(8)]
    assert decision.outcome == Suspended(tuple(ids))


def test_gather_results_follow_call_order_whatever_the_completion_order() -> None:
    driver = Driver(fan_out, [double], [8], hold=lambda command: True)
    first = driver.run()
    assert first == Suspended(tuple(f"activity:math.double:{i}" for i in range(8)))
    assert len(driver.held) == 8

    for command_id in reversed(list(driver.held)):
        driver.run_activity(command_id)
        if driver.held:  # partial completion: still waiting on exactly the rest
            decision = driver.replay()
            assert decision.commands == []
            assert decision.outcome == Suspended(tuple(driver.held))
    assert driver.run() == Completed([2 * i for i in range(8)])
    completions = [e.command_id for e in driver.events("activity_completed")]
    assert completions == [f"activity:math.double:{i}" for i in reversed(range(8))]
    assert calls["double"] == 8


def test_failed_parallel_activity_raises_activity_failed_in_gather() -> None:
    def tolerant() -> dict[str, Any]:
        handles = [double.start(i) for i in range(8)]
        try:
            return {"results": workflow.gather(*handles)}
        except ActivityFailed as error:
            return {
                "activity": error.activity,
                "error_type": error.error_type,
                "message": error.error_message,
                "attempt": error.attempt,
            }

    def explode(command: Command, attempt: int) -> BaseException | None:
        if command.command_id == "activity:math.double:5":
            return KeyError("no such account")
        return None

    driver = Driver(tolerant, [double], inject=explode)
    outcome = driver.run()

    assert outcome == Completed(
        {
            "activity": "math.double",
            "error_type": "KeyError",
            "message": "'no such account'",
            "attempt": 1,
        }
    )
    failed = driver.events("activity_failed")
    assert [e.command_id for e in failed] == ["activity:math.double:5"]


def test_uncaught_activity_failure_fails_the_run_with_its_description() -> None:
    retried = double.options(retry=RetryPolicy(max_attempts=3))

    def wf() -> int:
        return retried(1)

    driver = Driver(wf, [double], inject=lambda command, attempt: ValueError("card declined"))
    outcome = driver.run()

    assert outcome == Failed(
        "ActivityFailed: math.double failed after 3 attempt(s): ValueError: card declined"
    )
    assert driver.executions["math.double"] == 3
    assert driver.events("activity_scheduled")[0].data["retry"]["max_attempts"] == 3


def test_gather_waits_for_pending_handles_even_when_some_are_done() -> None:
    history = [
        Event(1, "activity_scheduled", "activity:math.double:0", {}),
        Event(2, "activity_scheduled", "activity:math.double:1", {}),
        Event(3, "activity_scheduled", "activity:math.double:2", {}),
        Event(4, "activity_completed", "activity:math.double:1", {"result": 2}),
    ]
    decision = replay(fan_out, [3], {}, history, INFO, FakeLive())
    assert decision.commands == []
    assert decision.outcome == Suspended(("activity:math.double:0", "activity:math.double:2"))


def test_handle_result_and_per_call_options_are_journaled() -> None:
    def wf() -> list[Any]:
        handle = charge.options(queue="payments", priority=7, timeout=5).start(3)
        other = ship.start("o-3")
        return [other.result(), handle.result()]

    driver = Driver(wf, [charge, ship])
    assert driver.run() == Completed(["shipped o-3", {"charged": 3, "currency": "EUR"}])
    first = driver.history[0]
    assert first.command_id == "activity:shop.charge:0"
    assert (first.data["queue"], first.data["priority"], first.data["timeout"]) == (
        "payments",
        7,
        5.0,
    )
    second = driver.events("activity_scheduled")[1]
    assert (second.data["queue"], second.data["priority"]) == (None, None)


def test_activity_outside_a_workflow_is_the_plain_function() -> None:
    assert charge(5) == {"charged": 5, "currency": "EUR"}
    assert double(21) == 42
    assert calls == Counter({"charge": 1, "double": 1})


def test_workflow_info_is_visible_inside_the_workflow() -> None:
    def wf() -> list[str]:
        info = workflow.info()
        return [info.run_id, info.workflow]

    info = WorkflowInfo("run-77", "shop.checkout")
    decision = replay(wf, [], {}, [], info, FakeLive())
    assert decision.outcome == Completed(["run-77", "shop.checkout"])


def _items() -> list[str]:
    return ["a"]


items = activity(_items, "shop.items")


def test_workflow_code_that_changes_journaled_values_changes_only_its_own_copy() -> None:
    """Replays in one process share the journaled events (history cache, resident
    instances): appending to a result, a signal payload, a side effect or an argument
    must never leak into the next replay."""

    def wf(options: dict[str, Any]) -> Any:
        got = items()
        got.append("mine")
        options["seen"] = options.get("seen", 0) + 1
        note = workflow.side_effect(lambda: {"tags": []}, name="note")
        note["tags"].append("mine")
        payload = workflow.wait_signal("go")
        payload.append("mine")
        return [got, options, note, payload]

    driver = Driver(wf, [items], args=[{"plan": "x"}])
    assert isinstance(driver.run(), Suspended)
    driver.signal("go", ["sent"])
    first = driver.run()
    expected = Completed(
        [["a", "mine"], {"plan": "x", "seen": 1}, {"tags": ["mine"]}, ["sent", "mine"]]
    )
    assert first == expected
    for _ in range(2):  # the same event objects, replayed again from the top
        assert replay(wf, driver.args, {}, driver.history, INFO, FakeLive()).outcome == expected


def test_a_gather_needs_every_pending_result_a_single_wait_one() -> None:
    """``Suspended.needs``: how many resolutions the code needs before it can move.
    The journal lets a gather's completions land without a replay until it is one;
    over-counting would park a run that could move, so it is checked both ways, from
    the top and on a resident instance."""
    driver = Driver(fan_out, [double], [8], hold=lambda command: True)
    first = driver.run()
    assert isinstance(first, Suspended) and first.needs == 8
    cache = ResidentCache()
    for command_id in list(driver.held):
        driver.run_activity(command_id)
        if not driver.held:
            break
        fresh = driver.replay().outcome
        resident = cache.decide(fan_out, [8], {}, driver.history, INFO, driver.live).outcome
        assert isinstance(fresh, Suspended) and isinstance(resident, Suspended)
        assert fresh.needs == resident.needs == len(driver.held)
    single = replay(checkout, ["o-1", 5], {}, [], INFO, FakeLive()).outcome
    assert isinstance(single, Suspended) and single.needs == 1
