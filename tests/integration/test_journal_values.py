"""Values as Postgres keeps them: what ``jsonb`` returns, and what it cannot hold.

``payloads.as_journaled`` is the engine's model of a ``jsonb`` round trip (key
order, numbers as ``numeric``), used so that live workflow code sees what replay
will. It is checked here against the real thing, written and read exactly as the
journal writes and reads event data. The rest runs real workers: a value Postgres
cannot store must fail the run (or the effect) visibly, never wedge it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from continuum_celery import RunFailed
from continuum_celery.journal.db import Database, execute
from continuum_celery.journal.rows import dumps
from continuum_celery.payloads import as_journaled, check_json

ROUND_TRIP = text("SELECT CAST(:value AS jsonb) AS value")


def through_jsonb(db: Database, value: Any) -> Any:
    with db.engine.begin() as conn:
        return execute(conn, ROUND_TRIP, {"value": dumps(value)}).scalar_one()


def identical(left: Any, right: Any) -> bool:
    """Equal, with the same types all the way down, keys in the same order and
    zeros of the same sign."""
    if type(left) is not type(right):
        return False
    if type(left) is float:
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    if type(left) is dict:
        return list(left) == list(right) and all(identical(left[k], right[k]) for k in left)
    if type(left) is list:
        return len(left) == len(right) and all(map(identical, left, right))
    return bool(left == right)


storable_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8
)
edge_floats = st.sampled_from(
    [1e16, -1e16, 1.5e16, 1e23, 1.5e300, 1.7976931348623157e308, 9999999999999998.0,
     1e-7, -1e-7, 1.2345e-5, 5e-324, 0.0, -0.0, 1.0, 100.0, 0.1]
)  # fmt: skip
numbers = (
    st.floats(allow_nan=False, allow_infinity=False)
    | edge_floats
    | st.integers()
    | st.integers(-(10**40), 10**40)
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | storable_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(storable_text, children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def db(journal_url: str) -> Iterator[Database]:
    database = Database(journal_url, pool_size=1)
    yield database
    database.dispose()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_as_journaled_is_exactly_what_jsonb_returns(db: Database, value: Any) -> None:
    check_json(value, "value")
    stored = through_jsonb(db, value)
    assert identical(as_journaled(value), stored), (value, stored)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e16, 10**16),
        (1e23, 10**23),  # the decimal repr wrote, not int(1e23) = 99999999999999991611392
        (1.5e300, int(Decimal("1.5e300"))),
        (-0.0, 0.0),
        (1e-07, 1e-07),
        ({"bb": 1e16, "a": [-0.0, 2.5]}, {"a": [0.0, 2.5], "bb": 10**16}),
    ],
    ids=["1e16", "1e23", "1.5e300", "-0.0", "1e-07", "nested"],
)
def test_what_jsonb_does_to_numbers(db: Database, value: Any, expected: Any) -> None:
    assert identical(through_jsonb(db, value), expected)
    assert identical(as_journaled(value), expected)


# --- workflows meeting values Postgres cannot store -----------------------------------

KINDS = ("nul", "surrogate")
PROBLEM = {
    "nul": "a NUL character (\\u0000), which Postgres cannot store",
    "surrogate": "a surrogate code point (\\ud800), which UTF-8 cannot encode",
}
ESCAPED = {"nul": "nul \\u0000 byte", "surrogate": "lone \\ud800 half"}


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("kind", KINDS)
def test_a_result_postgres_cannot_store_fails_the_run(flows: ModuleType, kind: str) -> None:
    handle = flows.returns_unstorable.delay(kind)
    with pytest.raises(RunFailed) as failed:
        handle.result(timeout=30)
    run = flows.cx.get_run(handle.run_id)
    assert run.state == "failed"
    assert run.error == failed.value.error
    assert run.error.startswith(
        f"NotSerializable: workflow result: $.text contains {PROBLEM[kind]}"
    )


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("kind", KINDS)
def test_an_error_or_log_line_with_unstorable_text_is_journaled_escaped(
    flows: ModuleType, kind: str
) -> None:
    handle = flows.raises_unstorable_flow.delay(kind)
    with pytest.raises(RunFailed) as failed:
        handle.result(timeout=30)
    assert failed.value.error == f"ValueError: {ESCAPED[kind]}"
    logged = [e.data["message"] for e in handle.history() if e.type == "workflow_log"]
    assert logged == [f"about to fail: {ESCAPED[kind]}"]


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("kind", KINDS)
def test_every_effect_refuses_unstorable_values_inside_a_workflow(
    flows: ModuleType, kind: str
) -> None:
    seen = flows.unstorable_inside.delay(kind).result(timeout=30)
    problem = PROBLEM[kind]
    assert seen["activity_args"].startswith(
        f"NotSerializable: arguments of {flows.add.name}: $.args[0] contains {problem}"
    )
    assert seen["activity_result"].endswith(
        f"NotSerializable: result of {flows.unstorable_value.name}: $ contains {problem}"
    )
    assert seen["activity_error"].startswith("ActivityFailed: ")
    assert seen["activity_error"].endswith(f"ValueError: {ESCAPED[kind]}")
    assert seen["side_effect"].startswith("SideEffectFailed: side effect 'unstorable' failed: ")
    assert f"$.v contains {problem}" in seen["side_effect"]
    assert seen["child_args"].startswith("NotSerializable: arguments of child ")
    assert seen["signal_name"].startswith("ValueError: signal name ")
    assert seen["continue_as_new"].startswith(
        f"NotSerializable: arguments of continue_as_new: $.args[0] contains {problem}"
    )
