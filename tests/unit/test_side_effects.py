"""Time, ids, randomness and side effects: read once at the live tail, then journaled."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Failed
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from tests.unit.driver import START, Driver, FakeLive

INFO = WorkflowInfo("run-1", "tests.workflow")
produced: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    produced.clear()


def make_token() -> dict[str, Any]:
    produced["token"] += 1
    return {"token": f"t{produced['token']}", "scopes": ["read", "write"]}


def sources() -> dict[str, Any]:
    started = workflow.now()
    ident = workflow.uuid4()
    roll = workflow.random()
    token = workflow.side_effect(make_token)
    workflow.sleep(1)  # forces a second replay over the recorded values
    later = workflow.now()
    return {
        "started": started.isoformat(),
        "aware": started.tzinfo is not None,
        "uuid": str(ident),
        "uuid_type": type(ident).__name__,
        "roll": roll,
        "token": token,
        "elapsed": (later - started).total_seconds(),
    }


EXPECTED = {
    "started": (START + timedelta(seconds=1, microseconds=250)).isoformat(),
    "aware": True,
    "uuid": "00000000-0000-4000-8000-000000000001",
    "uuid_type": "UUID",
    "roll": 0.137,
    "token": {"token": "t1", "scopes": ["read", "write"]},
    "elapsed": 1.0,
}


def test_sources_are_journaled_as_side_effect_events() -> None:
    driver = Driver(sources, auto_fire=True)
    assert driver.run() == Completed(EXPECTED)

    effects = driver.events("side_effect")
    assert [e.command_id for e in effects] == [
        "side_effect:now:0",
        "side_effect:uuid4:0",
        "side_effect:random:0",
        "side_effect:make_token:0",
        "side_effect:now:1",
    ]
    assert [e.data["kind"] for e in effects] == ["now", "uuid4", "random", "make_token", "now"]
    assert effects[0].data["value"] == EXPECTED["started"]
    assert effects[1].data["value"] == EXPECTED["uuid"]
    assert effects[3].data["value"] == {"token": "t1", "scopes": ["read", "write"]}
    # each source was read exactly once, although the code ran three times
    assert len(driver.decisions) == 3
    assert driver.live.calls == Counter({"now": 2, "uuid4": 1, "random": 1})
    assert produced == Counter({"token": 1})


def test_replay_returns_recorded_values_without_consulting_live_sources() -> None:
    driver = Driver(sources, auto_fire=True)
    driver.run()

    other = FakeLive(start=datetime(1999, 1, 1, tzinfo=START.tzinfo))
    decision = replay(sources, [], {}, driver.history, INFO, other)
    assert decision.commands == []
    assert decision.outcome == Completed(EXPECTED)
    assert other.calls == Counter()
    assert produced == Counter({"token": 1})


def test_side_effect_name_overrides_the_function_name() -> None:
    def wf() -> list[Any]:
        return [
            workflow.side_effect(lambda: 41 + 1, name="answer"),
            workflow.side_effect(lambda: "x", name="answer"),
        ]

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.outcome == Completed([42, "x"])
    assert [(c.command_id, c.data) for c in decision.commands] == [
        ("side_effect:answer:0", {"kind": "answer", "value": 42}),
        ("side_effect:answer:1", {"kind": "answer", "value": "x"}),
    ]


def test_side_effect_with_non_json_value_fails_the_run() -> None:
    def wf() -> Any:
        return workflow.side_effect(lambda: {"a", "b"}, name="tags")

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.outcome == Failed(
        "SideEffectFailed: side effect 'tags' failed: NotSerializable: side_effect 'tags' "
        "value: $ is a set, which is not JSON (use dict, list, str, int, float, bool or None)"
    )


def test_side_effect_with_a_tuple_inside_fails_the_run() -> None:
    def wf() -> Any:
        return workflow.side_effect(lambda: {"pair": (1, 2)}, name="pair")

    outcome = replay(wf, [], {}, [], INFO, FakeLive()).outcome
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith(
        "SideEffectFailed: side effect 'pair' failed: NotSerializable: side_effect 'pair' "
        "value: $.pair is a tuple"
    )


def test_side_effect_that_raises_fails_the_run_with_its_error() -> None:
    def wf() -> Any:
        return workflow.side_effect(_broken_source)

    outcome = replay(wf, [], {}, [], INFO, FakeLive()).outcome
    assert isinstance(outcome, Failed)
    assert outcome.error.endswith("RuntimeError: source offline")


def _broken_source() -> Any:
    raise RuntimeError("source offline")


def test_a_caught_side_effect_error_replays_the_same_way() -> None:
    def wf() -> Any:
        try:
            value = workflow.side_effect(_broken_source, name="lookup")
        except RuntimeError:
            return "fallback"
        return {"value": value}

    driver = Driver(wf)
    live_outcome = driver.run()  # today: Completed("fallback")
    replayed = replay(wf, [], {}, driver.history, INFO, FakeLive())
    assert replayed.outcome == live_outcome


def test_uuid4_and_random_ordinals_are_per_kind() -> None:
    def wf() -> list[Any]:
        return [str(workflow.uuid4()), workflow.random(), str(workflow.uuid4())]

    live = FakeLive()
    decision = replay(wf, [], {}, [], INFO, live)
    assert [c.command_id for c in decision.commands] == [
        "side_effect:uuid4:0",
        "side_effect:random:0",
        "side_effect:uuid4:1",
    ]
    assert decision.outcome == Completed(
        [
            "00000000-0000-4000-8000-000000000001",
            0.137,
            "00000000-0000-4000-8000-000000000002",
        ]
    )
    assert live.calls == Counter({"uuid4": 2, "random": 1})


def test_a_dict_subclass_value_cannot_change_behaviour_on_replay() -> None:
    def wf() -> Any:
        counts = workflow.side_effect(lambda: Counter(seen=1), name="counts")
        return counts["unseen"]  # 0 on a Counter, KeyError on a plain dict

    driver = Driver(wf)
    live_outcome = driver.run()
    replayed = replay(wf, [], {}, driver.history, INFO, FakeLive())
    assert replayed.outcome == live_outcome


def test_a_side_effect_object_is_seen_live_in_the_order_the_journal_returns() -> None:
    """jsonb returns keys by length, then bytewise: live code must iterate them so too."""

    def wf() -> Any:
        settings = workflow.side_effect(lambda: {"zeta": 1, "b": {"yy": 2, "x": 3}, "aa": 4})
        return [list(settings), list(settings["b"])]

    driver = Driver(wf)
    assert driver.run() == Completed([["b", "aa", "zeta"], ["x", "yy"]])
    # A history whose side effect came back from jsonb replays to the same decision.
    recorded = [
        e if e.type != "side_effect" else type(e)(e.seq, e.type, e.command_id,
            {"kind": e.data["kind"], "value": {"b": {"x": 3, "yy": 2}, "aa": 4, "zeta": 1}})
        for e in driver.history
    ]  # fmt: skip
    assert replay(wf, [], {}, recorded, INFO, FakeLive()).outcome == Completed(
        [["b", "aa", "zeta"], ["x", "yy"]]
    )
