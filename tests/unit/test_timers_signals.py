"""Durable sleep and signal waits."""

from __future__ import annotations

from typing import Any

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Decision, Failed, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from tests.unit.driver import Driver, FakeLive

INFO = WorkflowInfo("run-1", "tests.workflow")


def napper() -> str:
    workflow.sleep(2.5)
    workflow.sleep(30)
    return "rested"


def test_sleep_journals_a_timer_and_suspends_until_it_fires() -> None:
    driver = Driver(napper)
    first = driver.step()
    assert [(c.type, c.command_id, c.data) for c in first.commands] == [
        ("timer_started", "timer:sleep:0", {"timer_id": "timer:sleep:0", "seconds": 2.5})
    ]
    assert first.outcome == Suspended(("timer:sleep:0",))

    again = driver.step()  # nothing happened: still waiting, nothing new to journal
    assert again.commands == []
    assert again.outcome == Suspended(("timer:sleep:0",))

    driver.fire("timer:sleep:0")
    second = driver.step()
    assert [(c.command_id, c.data["seconds"]) for c in second.commands] == [("timer:sleep:1", 30.0)]
    assert isinstance(second.commands[0].data["seconds"], float)
    assert second.outcome == Suspended(("timer:sleep:1",))

    driver.fire("timer:sleep:1")
    assert driver.run() == Completed("rested")
    assert driver.types() == ["timer_started", "timer_fired"] * 2


def test_bad_sleep_durations_fail_the_run() -> None:
    def negative() -> None:
        workflow.sleep(-1)

    def text() -> None:
        workflow.sleep("5")  # type: ignore[arg-type]

    assert replay(negative, [], {}, [], INFO, FakeLive()).outcome == Failed(
        "ValueError: sleep must be a finite number >= 0, not -1"
    )
    assert replay(text, [], {}, [], INFO, FakeLive()).outcome == Failed(
        "TypeError: sleep must be a number of seconds, not '5'"
    )


def approval() -> Any:
    decision = workflow.wait_signal("review")
    return {"approved": decision["ok"], "by": decision["by"]}


def test_wait_signal_journals_the_wait_and_returns_the_payload() -> None:
    driver = Driver(approval)
    first = driver.step()
    assert [(c.type, c.command_id, c.data) for c in first.commands] == [
        ("signal_awaited", "signal:review:0", {"name": "review", "timeout": None})
    ]
    assert first.outcome == Suspended(("signal:review:0",))

    driver.signal("review", {"ok": True, "by": "ana"})
    assert driver.run() == Completed({"approved": True, "by": "ana"})
    received = driver.events("signal_received")
    assert [(e.command_id, e.data["payload"]) for e in received] == [
        ("signal:review:0", {"ok": True, "by": "ana"})
    ]


def test_signal_payload_is_read_from_the_history_by_command_id() -> None:
    history = [
        Event(1, "signal_awaited", "signal:review:0", {"name": "review", "timeout": None}),
        Event(2, "signal_received", "signal:review:0", {"payload": {"ok": False, "by": "bo"}}),
    ]
    decision = replay(approval, [], {}, history, INFO, FakeLive())
    assert decision == Decision([], Completed({"approved": False, "by": "bo"}))


def test_repeated_waits_get_their_own_ids_and_payloads_in_order() -> None:
    def collect() -> list[Any]:
        return [workflow.wait_signal("vote") for _ in range(3)]

    driver = Driver(collect)
    for payload in ["yes", "no", 3]:
        driver.signal("vote", payload)  # buffered, then consumed oldest first
    assert driver.run() == Completed(["yes", "no", 3])
    awaited = [e.command_id for e in driver.events("signal_awaited")]
    assert awaited == ["signal:vote:0", "signal:vote:1", "signal:vote:2"]


def deadline() -> str:
    try:
        payload = workflow.wait_signal("review", timeout=30)
    except workflow.SignalTimeout as error:
        return f"timed out: {error}"
    return f"got {payload}"


def test_wait_signal_with_timeout_records_its_timer() -> None:
    decision = replay(deadline, [], {}, [], INFO, FakeLive())
    assert [(c.type, c.data) for c in decision.commands] == [
        (
            "signal_awaited",
            {"name": "review", "timeout": 30.0, "timer_id": "signal:review:0"},
        )
    ]
    assert decision.outcome == Suspended(("signal:review:0",))


def test_signal_timeout_is_catchable_in_workflow_code() -> None:
    driver = Driver(deadline)
    driver.run()
    driver.fire("signal:review:0")
    assert driver.run() == Completed("timed out: no 'review' signal within 30.0 seconds")


def test_signal_before_the_timeout_wins() -> None:
    driver = Driver(deadline)
    driver.run()
    driver.signal("review", "lgtm")
    assert driver.run() == Completed("got lgtm")


def test_uncaught_signal_timeout_fails_the_run() -> None:
    def strict() -> Any:
        return workflow.wait_signal("review", timeout=0.5)

    driver = Driver(strict)
    driver.run()
    driver.fire("signal:review:0")
    assert driver.run() == Failed("SignalTimeout: no 'review' signal within 0.5 seconds")


def test_signal_names_must_be_non_empty_strings() -> None:
    def nameless() -> Any:
        return workflow.wait_signal("")

    assert replay(nameless, [], {}, [], INFO, FakeLive()).outcome == Failed(
        "TypeError: signal name must be a non-empty str, not ''"
    )


def test_a_wait_longer_than_a_century_is_refused_before_anything_is_decided() -> None:
    def dreamer(seconds: float, timeout: float | None) -> str:
        if timeout is None:
            workflow.sleep(seconds)
        return str(workflow.wait_signal("go", timeout=timeout))

    for args in ([1e12, None], [1.0, 1e300]):
        decision = replay(dreamer, args, {}, [], INFO, FakeLive())
        assert decision.commands == []
        assert isinstance(decision.outcome, Failed)
        assert "must be at most a century" in decision.outcome.error
