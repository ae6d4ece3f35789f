"""Values as the journal returns them, and values it cannot hold.

Live workflow code must see a value it produced itself exactly as a replay will
read it back from ``jsonb`` (type included), and a value Postgres cannot store
must be refused where it is offered, never fail inside a journal write. What
``jsonb`` really does is checked against Postgres in
``tests/integration/test_journal_values.py``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Failed
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from continuum_celery.errors import NotSerializable
from continuum_celery.journal.settling import AttemptError
from continuum_celery.payloads import (
    as_journaled,
    check_json,
    check_text,
    encode,
    storable,
    unstorable_char,
)
from tests.unit.driver import FakeLive, activity

INFO = WorkflowInfo("run-1", "tests.workflow")


def identical(left: Any, right: Any) -> bool:
    """Equal with the same types, key order and signs of zero, all the way down."""
    if type(left) is not type(right):
        return False
    if type(left) is float:
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    if type(left) is dict:
        return list(left) == list(right) and all(identical(left[k], right[k]) for k in left)
    if type(left) is list:
        return len(left) == len(right) and all(map(identical, left, right))
    return bool(left == right)


# --- as_journaled: a jsonb round trip, without the round trip ---------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e16, 10**16),
        (-1e16, -(10**16)),
        (1.5e16, 15 * 10**15),
        (1e23, 10**23),  # the decimal that repr wrote, not int(1e23)
        (1.5e300, int(Decimal("1.5e300"))),
        (9999999999999998.0, 9999999999999998.0),
        (1e-07, 1e-07),
        (5e-324, 5e-324),
        (-0.0, 0.0),
        (0.0, 0.0),
        (2.5, 2.5),
        (True, True),
        (10**30, 10**30),
        ("text", "text"),
        (None, None),
        ({"zeta": 1, "b": {"yy": -0.0, "x": 1e20}, "aa": [1e16, "x"]},
         {"b": {"x": 10**20, "yy": 0.0}, "aa": [10**16, "x"], "zeta": 1}),
    ],
    ids=lambda value: repr(value)[:24],
)  # fmt: skip
def test_as_journaled_gives_what_jsonb_gives(value: Any, expected: Any) -> None:
    assert identical(as_journaled(value), expected)


def test_as_journaled_shares_no_container_with_its_input() -> None:
    value = {"a": [1, {"b": 2}]}
    journaled = as_journaled(value)
    journaled["a"].append(3)
    journaled["a"][1]["b"] = 4
    assert value == {"a": [1, {"b": 2}]}


def branch_on_types() -> str:
    """Decides by the type and sign of values it computed itself."""
    big = workflow.side_effect(lambda: 1e16, name="big")
    zero = workflow.side_effect(lambda: -0.0, name="zero")
    if isinstance(big, float) or math.copysign(1.0, zero) < 0:
        workflow.sleep(60)
        return "float path"
    return "int path"


def test_code_branching_on_a_side_effects_type_decides_the_same_on_replay() -> None:
    live = replay(branch_on_types, [], {}, [], INFO, FakeLive())
    # The history as Postgres hands it back: 1e16 as an int, -0.0 as 0.0.
    from_jsonb = [
        Event(1, "side_effect", "side_effect:big:0", {"kind": "big", "value": 10**16}),
        Event(2, "side_effect", "side_effect:zero:0", {"kind": "zero", "value": 0.0}),
    ]
    replayed = replay(branch_on_types, [], {}, from_jsonb, INFO, FakeLive())
    assert replayed.outcome == Completed("int path") and replayed.commands == []
    assert live.outcome == replayed.outcome
    assert [c.data for c in live.commands] == [e.data for e in from_jsonb]


# --- values Postgres cannot store --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x00b", "$ contains a NUL character (\\u0000), which Postgres cannot store"),
        ({"a": ["ok", "é\x00"]}, "$.a[1] contains a NUL character"),
        ([{"k": "\ud800"}], "$[0].k contains a surrogate code point (\\ud800), which UTF-8"),
        ("pair \ud83d\ude00", "$ contains a surrogate code point (\\ud83d)"),
        ({"outer": {"k\x00": 1}}, "$.outer has a key 'k\\x00' containing a NUL character"),
        ({"\udfff": 1}, "$ has a key '\\udfff' containing a surrogate code point (\\udfff)"),
    ],
)
def test_text_postgres_cannot_store_is_not_serializable(value: Any, message: str) -> None:
    with pytest.raises(NotSerializable) as caught:
        check_json(value, "the value")
    assert str(caught.value).startswith(f"the value: {message}")
    assert unstorable_char(str(caught.value)) is None  # the message itself can be journaled


@given(st.text(max_size=6), st.sampled_from("\x00\ud800\udbff\udc00\udfff"), st.text(max_size=6))
def test_any_nul_or_surrogate_is_found(before: str, bad: str, after: str) -> None:
    assert unstorable_char(before + bad + after) is not None
    with pytest.raises(NotSerializable):
        check_json({"k": [before + bad + after]}, "v")


@pytest.mark.parametrize("text", ["", "plain ascii", "Zoë ünïcode ✓ 😀", "\x01\x7f\ufffd"])
def test_storable_text_passes_unchanged(text: str) -> None:
    assert unstorable_char(text) is None
    assert check_text(text, "name") is text
    assert storable(text) is text
    check_json({text: text}, "v")


def test_storable_escapes_what_postgres_cannot_store() -> None:
    assert storable("a\x00b\ud800c") == "a\\u0000b\\ud800c"
    assert storable("é\x00") == "é\\u0000"


def test_text_columns_refuse_unstorable_text_with_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^signal name 'a\\x00' contains a NUL character"):
        check_text("a\x00", "signal name")


def test_an_int_json_cannot_write_is_not_serializable() -> None:
    with pytest.raises(NotSerializable, match=r"^v: .*4300 digits"):
        encode({"n": 10**5000}, "v")


def test_activity_errors_are_journaled_escaped() -> None:
    error = AttemptError("Value\x00Error", "bad \x00 and \ud800")
    assert (error.error_type, error.message) == ("Value\\u0000Error", "bad \\u0000 and \\ud800")
    assert error.text() == "Value\\u0000Error: bad \\u0000 and \\ud800"


# --- inside workflows: refused at the effect, or the run fails visibly ------------------


def returns(value: Any) -> Any:
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [({"text": "a\x00"}, "a NUL character"), ({"text": "\ud800"}, "a surrogate code point")],
    ids=["nul", "surrogate"],
)
def test_a_result_postgres_cannot_store_fails_the_run(value: Any, problem: str) -> None:
    outcome = replay(returns, [value], {}, [], INFO, FakeLive()).outcome
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith(f"NotSerializable: workflow result: $.text contains {problem}")


def test_a_result_json_cannot_write_fails_the_run() -> None:
    outcome = replay(returns, [{"n": 10**5000}], {}, [], INFO, FakeLive()).outcome
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith("NotSerializable: workflow result: Exceeds the limit")


def test_a_workflow_error_with_unstorable_text_is_journaled_escaped() -> None:
    def wf() -> None:
        raise ValueError("bad \x00 and \ud800")

    outcome = replay(wf, [], {}, [], INFO, FakeLive()).outcome
    assert outcome == Failed("ValueError: bad \\u0000 and \\ud800")


def test_log_lines_are_journaled_escaped() -> None:
    def wf() -> None:
        workflow.logger.info("got %s", "a\x00b")
        workflow.sleep(1)

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.commands[0].data == {"level": "INFO", "message": "got a\\u0000b"}


echo = activity(returns, "tests.echo")


@pytest.mark.parametrize(
    ("effect", "error"),
    [
        (lambda: echo("a\x00"), "NotSerializable: arguments of tests.echo: $.args[0] contains"),
        (lambda: echo.start(x={"\ud800": 1}), "NotSerializable: arguments of tests.echo: $.kwargs"),
        (lambda: workflow.side_effect(lambda: ["\x00"], name="v"),
         "SideEffectFailed: side effect 'v' failed: NotSerializable: side_effect 'v' value: $[0]"),
        (lambda: workflow.side_effect(lambda: 1, name="a\x00"), "ValueError: side effect name"),
        (lambda: workflow.wait_signal("a\x00"), "ValueError: signal name"),
        (lambda: workflow.patched("a\x00"), "ValueError: patch id"),
        (lambda: workflow.start_child("tests.child\x00"), "ValueError: workflow name"),
        (lambda: workflow.start_child("tests.child", "\x00"),
         "NotSerializable: arguments of child tests.child: $.args[0] contains"),
        (lambda: workflow.continue_as_new(k="\ud800"),
         "NotSerializable: arguments of continue_as_new: $.kwargs.k contains"),
    ],
    ids=["activity args", "activity kwargs", "side effect value", "side effect name",
         "signal name", "patch id", "child name", "child args", "continue_as_new args"],
)  # fmt: skip
def test_effects_refuse_unstorable_values_before_deciding(effect: Any, error: str) -> None:
    def wf() -> None:
        effect()

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert isinstance(decision.outcome, Failed)
    assert decision.outcome.error.startswith(error)
    assert [c.type for c in decision.commands] in ([], ["side_effect"])


# --- the configured payload limit holds for new runs made inside a workflow -------------


@pytest.mark.parametrize(
    "effect",
    [
        lambda: workflow.continue_as_new("x" * 200),
        lambda: workflow.start_child("tests.child", "x" * 200),
    ],
    ids=["continue_as_new", "child by name"],
)
def test_new_runs_from_a_workflow_respect_the_configured_limit(effect: Any) -> None:
    def wf() -> None:
        effect()
        workflow.sleep(1)

    small = replay(wf, [], {}, [], INFO, FakeLive(), max_payload_bytes=100)
    assert isinstance(small.outcome, Failed)
    assert small.outcome.error.startswith("PayloadTooLarge: arguments of ")
    assert small.outcome.error.endswith("over the 100-byte payload limit")
    assert small.commands == []
    assert not isinstance(replay(wf, [], {}, [], INFO, FakeLive()).outcome, Failed)
