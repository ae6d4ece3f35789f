"""The query language, parsed without a database: every form, precedence, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from continuum_celery import ContinuumError, InvalidQuery
from continuum_celery.query import (
    And,
    Compare,
    Field,
    In,
    IsNull,
    Not,
    Or,
    RelativeTime,
    StartsWith,
    parse,
)

STATE, WORKFLOW = Field("state"), Field("workflow")


def eq(field: Field, value: object) -> Compare:
    return Compare(field, "=", value)  # type: ignore[arg-type]


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison_operator(op: str) -> None:
    assert parse(f'state {op} "failed"') == Compare(STATE, op, "failed")


def test_angle_brackets_mean_not_equal() -> None:
    assert parse("state <> 'x'") == Compare(STATE, "!=", "x")


def test_empty_and_blank_queries_match_everything() -> None:
    assert parse("") is None and parse("  \n\t ") is None


def test_in_not_in_starts_with_and_null_checks() -> None:
    assert parse('state IN ("a", "b")') == In(STATE, ("a", "b"))
    assert parse("state NOT IN ('a')") == In(STATE, ("a",), negated=True)
    assert parse('workflow STARTS_WITH "shop."') == StartsWith(WORKFLOW, "shop.")
    assert parse("parent_run_id IS NULL") == IsNull(Field("parent_run_id"))
    assert parse("ended_at IS NOT NULL") == IsNull(Field("ended_at"), negated=True)


def test_keywords_are_case_insensitive() -> None:
    assert parse("state in ('a') and not state is null or state starts_with 'x'") == Or(
        (And((In(STATE, ("a",)), Not(IsNull(STATE)))), StartsWith(STATE, "x"))
    )


def test_not_binds_tighter_than_and_and_and_tighter_than_or() -> None:
    a, b, c = eq(STATE, "a"), eq(STATE, "b"), eq(STATE, "c")
    assert parse('state = "a" OR state = "b" AND state = "c"') == Or((a, And((b, c))))
    assert parse('state = "a" AND state = "b" OR state = "c"') == Or((And((a, b)), c))
    assert parse('NOT state = "a" AND state = "b"') == And((Not(a), b))
    assert parse('NOT NOT state = "a"') == Not(Not(a))


def test_parentheses_override_precedence() -> None:
    a, b, c = eq(STATE, "a"), eq(STATE, "b"), eq(STATE, "c")
    assert parse('(state = "a" OR state = "b") AND state = "c"') == And((Or((a, b)), c))
    assert parse('NOT (state = "a" OR state = "b")') == Not(Or((a, b)))
    assert parse('((state = "a"))') == a


def test_attribute_values_keep_their_json_type() -> None:
    customer = Field("attributes", "customer")
    assert parse('attributes.customer = "c-42"') == eq(customer, "c-42")
    assert parse("attributes.customer = 42") == eq(customer, 42)
    assert parse("attributes.customer = -4.5") == eq(customer, -4.5)
    assert parse("attributes.customer = TRUE") == eq(customer, True)
    assert parse("attributes.customer != false") == Compare(customer, "!=", False)
    assert parse("attributes.a-b_c = 1") == eq(Field("attributes", "a-b_c"), 1)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'a\'b'", "a'b"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\tnew\nline"', "tab\tnew\nline"),
        ('"; DROP TABLE cx_runs; --"', "; DROP TABLE cx_runs; --"),
        ('"AND OR NOT"', "AND OR NOT"),
        ('""', ""),
        ('"ünïcode ✓"', "ünïcode ✓"),
    ],
)
def test_quoted_strings_and_escapes(written: str, value: str) -> None:
    assert parse(f"workflow = {written}") == eq(WORKFLOW, value)


@pytest.mark.parametrize(
    ("written", "offset"),
    [("-15m", -900), ("-2h", -7200), ("-7d", -604800), ("-30s", -30), ("-1w", -604800),
     ("+1h", 3600), ("-1.5h", -5400), ('"-15m"', -900), ("'-2h'", -7200)],
)  # fmt: skip
def test_relative_times(written: str, offset: float) -> None:
    assert parse(f"created_at > {written}") == Compare(
        Field("created_at"), ">", RelativeTime(offset)
    )


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ('"2026-01-02T03:04:05Z"', datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ('"2026-01-02"', datetime(2026, 1, 2, tzinfo=UTC)),
        ('"2026-01-02T03:04:05"', datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            '"2026-01-02T03:04:05+02:00"',
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_iso_times_default_to_utc(written: str, instant: datetime) -> None:
    parsed = parse(f"updated_at <= {written}")
    assert parsed == Compare(Field("updated_at"), "<=", instant)


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("state", 5, "an operator"),
        ("state =", 7, "a quoted string"),
        ("state = failed", 8, "a quoted string"),
        ("state = 5", 8, "a quoted string"),
        ("state == 'x'", 7, "a quoted string"),
        ("nope = 'x'", 0, "a field"),
        ("attributes = 'x'", 0, "a field"),
        ("attributes. = 'x'", 0, "a field"),
        ("attributes.a.b = 'x'", 0, "a field"),
        ("State = 'x'", 0, "a field"),
        ("state = 'x' AND", 15, "a field name or ("),
        ("state = 'x' state = 'y'", 12, "AND, OR or the end"),
        ("(state = 'x'", 12, ") or AND/OR"),
        ("state = 'x')", 11, "AND, OR or the end"),
        ("()", 1, "a field name or ("),
        ("state IN 'a'", 9, "( after IN"),
        ("state IN ()", 10, "a quoted string"),
        ("state IN ('a' 'b')", 14, ", or )"),
        ("state NOT = 'a'", 10, "IN"),
        ("state IS 'a'", 9, "NULL"),
        ("state = NULL", 8, "IS NULL"),
        ("state STARTS_WITH 5", 18, "a quoted string"),
        ("created_at STARTS_WITH '2026'", 23, "a text field"),
        ("created_at > 'yesterday'", 13, "ISO-8601"),
        ("created_at > 5", 13, "ISO-8601"),
        ("created_at > -15x", 13, "a number or a duration"),
        ("created_at > -15mm", 16, "duration unit"),
        ("attributes.a = nope", 15, "a string, a number, true or false"),
        ("state = 'open", 8, "closing '"),
        ('state = "open', 8, 'closing "'),
        (r"state = 'a\qb'", 10, "unknown escape"),
        ("state = 'x'; DROP TABLE cx_runs", 11, "unexpected character ';'"),
        ("state = 'x' -- comment", 12, "unexpected character '-'"),
        ("state = 'a\x00'", 10, "NUL"),
        ("state = `x`", 8, "unexpected character '`'"),
        ("state = 'x' OR 1=1", 15, "a field name or ("),
    ],
)
def test_malformed_queries_name_the_position_and_what_was_expected(
    query: str, position: int, expected: str
) -> None:
    with pytest.raises(InvalidQuery) as raised:
        parse(query)
    assert raised.value.position == position, str(raised.value)
    assert expected in str(raised.value)
    assert f"position {position}" in str(raised.value)


def test_invalid_query_is_a_continuum_error_and_a_value_error() -> None:
    with pytest.raises(InvalidQuery) as raised:
        parse("?")
    assert isinstance(raised.value, ContinuumError) and isinstance(raised.value, ValueError)


def test_a_query_must_be_text() -> None:
    with pytest.raises(TypeError):
        parse(b"state = 'x'")  # type: ignore[arg-type]


def test_nesting_is_bounded() -> None:
    with pytest.raises(InvalidQuery, match="nested deeper"):
        parse("(" * 200 + "state = 'x'" + ")" * 200)
    with pytest.raises(InvalidQuery, match="nested deeper"):
        parse("NOT " * 200 + "state = 'x'")
    assert parse("(" * 30 + "state = 'x'" + ")" * 30) == eq(STATE, "x")
