"""The listing's pure halves: the SQL the compiler writes, cursors and argument checks.

Whatever a query says, its values reach SQL only as bind parameters: the statement
text is built from the fixed column and operator tables alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from continuum_celery import InvalidQuery
from continuum_celery import listing as L
from continuum_celery.journal.listing import list_statement
from continuum_celery.query import parse

HOSTILE = "'; DROP TABLE cx_runs; -- %(p0)s :p1 \\"


def statement(query: str) -> tuple[str, dict[str, object]]:
    return list_statement(parse(query), "-created_at", 50, None)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize(
    "template",
    ["workflow = {v}", "state IN ({v}, {v})", "run_id STARTS_WITH {v}", "attributes.k = {v}",
     "attributes.k != {v}", "attributes.k > {v}", "attributes.k STARTS_WITH {v}",
     "attributes.k NOT IN ({v})", "NOT namespace = {v}"],
)  # fmt: skip
def test_values_only_ever_travel_as_parameters(template: str) -> None:
    sql, params = statement(template.format(v=quoted(HOSTILE)))
    assert "DROP" not in sql and "%(p0)s" not in sql and "'; " not in sql
    assert any("; DROP TABLE cx" in str(v) for v in params.values())


def test_attribute_keys_are_parameters_too() -> None:
    sql, params = statement("attributes.drop_table IS NULL")
    assert "drop_table" not in sql and "drop_table" in params.values()


def test_attribute_equality_is_a_containment_the_gin_index_serves() -> None:
    sql, params = statement('attributes.customer = "c-42"')
    assert "attributes @> CAST(:p0 AS jsonb)" in sql
    assert json.loads(str(params["p0"])) == {"customer": "c-42"}


def test_relative_times_are_resolved_by_the_database_clock() -> None:
    sql, params = statement("created_at > -15m")
    assert "created_at > (now() + :p0 * interval '1 second')" in sql and params["p0"] == -900.0


def test_starts_with_escapes_like_wildcards() -> None:
    _, params = statement(r'workflow STARTS_WITH "50%_off\\"')
    assert params["p0"] == "50\\%\\_off\\\\%"


def test_the_cursor_bound_follows_the_order() -> None:
    key = (datetime(2026, 1, 1, tzinfo=UTC), "r1")
    newest, _ = list_statement(None, "-created_at", 10, key)
    oldest, _ = list_statement(None, "created_at", 10, key)
    assert "(created_at, id) < (:p0, :p1)" in newest and "DESC" in newest
    assert "(created_at, id) > (:p0, :p1)" in oldest and "ASC" in oldest


def test_a_cursor_round_trips_for_its_own_listing_only() -> None:
    key = (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "run-'\"x")
    cursor = L.encode_cursor(key, "state = 'x'", "-created_at")
    assert L.decode_cursor(cursor, "state = 'x'", "-created_at") == key
    assert L.decode_cursor(None, "", "-created_at") is None
    with pytest.raises(ValueError, match="another query"):
        L.decode_cursor(cursor, "state = 'y'", "-created_at")
    with pytest.raises(ValueError, match="another query"):
        L.decode_cursor(cursor, "state = 'x'", "created_at")


def forged(payload: object) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "not base64!",
        forged([1, 2]),
        forged({"l": L.digest("", "-created_at"), "t": 5, "id": "x"}),
        forged({"l": L.digest("", "-created_at"), "t": "yesterday", "id": "x"}),
        forged({"l": L.digest("", "-created_at"), "t": "2026-01-01T00:00:00", "id": "x"}),
        forged({"l": L.digest("", "-created_at"), "t": "2026-01-01T00:00:00Z", "id": None}),
        forged({"l": L.digest("", "-created_at"), "t": "2026-01-01T00:00:00Z", "id": "\x00"}),
    ],
)
def test_garbled_or_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        L.decode_cursor(cursor, "", "-created_at")


def test_argument_checks() -> None:
    assert L.check_limit(1) == 1 and L.check_limit(1000) == 1000
    for bad_limit in (0, -1, 1001):
        with pytest.raises(ValueError):
            L.check_limit(bad_limit)
    for wrong_type in (None, 1.5, "5", True):
        with pytest.raises(TypeError):
            L.check_limit(wrong_type)
    assert L.check_order("created_at") == "created_at"
    with pytest.raises(InvalidQuery):
        L.check_order("created_at; DROP TABLE cx_runs")
    assert L.check_group_by(["state", "workflow"]) == ("state", "workflow")
    with pytest.raises(InvalidQuery):
        L.check_group_by(("state", "id"))
    with pytest.raises(TypeError):
        L.check_group_by("state")
