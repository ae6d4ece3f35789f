"""The audit log's query: the run query language over the entries' runs and the
entries' own fields, compiled by the same compiler with another field map."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from continuum_celery import InvalidQuery
from continuum_celery.journal.audit import log_statement
from continuum_celery.opsaudit import AuditFilters, audit_query
from continuum_celery.query import AUDIT_FIELDS, And, Compare, Field, RelativeTime, parse

HOSTILE = "'; DROP TABLE cx_audit; --"
NO_FILTERS = AuditFilters()


def compiled(query: str, filters: AuditFilters = NO_FILTERS) -> tuple[str, dict[str, object]]:
    return log_statement(audit_query(query, filters), 100)


def test_entry_fields_parse_only_in_the_audit_vocabulary() -> None:
    assert parse('action = "terminate"', AUDIT_FIELDS) == Compare(Field("action"), "=", "terminate")
    assert parse("at > -1h", AUDIT_FIELDS) == Compare(Field("at"), ">", RelativeTime(-3600.0))
    with pytest.raises(InvalidQuery, match="action"):
        parse('action = "terminate"')  # runs have no action
    with pytest.raises(InvalidQuery, match=r"at position 0.*actor"):
        parse('colour = "red"', AUDIT_FIELDS)  # the message lists the audit fields
    with pytest.raises(InvalidQuery, match="position 5"):
        parse('at = "yesterday"', AUDIT_FIELDS)  # a time field takes a time


def test_entry_fields_need_no_join_and_run_fields_do() -> None:
    alone, _ = compiled('action = "cancel" AND actor = "bob" AND run_id = "r-1" AND at > -1d')
    assert "JOIN" not in alone
    assert "a.action = :p0" in alone and "a.run_id = :p2" in alone and "a.created_at >" in alone
    about_runs, params = compiled('workflow = "shop.order" AND attributes.customer = "c-42"')
    assert "JOIN cx_runs r ON r.id = a.run_id" in about_runs
    assert "r.workflow = :p0" in about_runs and "r.attributes @> CAST(:p1 AS jsonb)" in about_runs
    assert params["p0"] == "shop.order"
    assert about_runs.endswith("ORDER BY a.created_at DESC, a.id DESC LIMIT :p2")


def test_no_query_and_no_filters_reads_the_log_unfiltered() -> None:
    statement, params = compiled("")
    assert "WHERE" not in statement and "JOIN" not in statement and params == {"p0": 100}


def test_keyword_filters_fold_in_as_nodes_of_the_same_query() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    node = audit_query('state = "failed"', AuditFilters(since, "terminate", "dave"))
    assert node == And((Compare(Field("state"), "=", "failed"),
                        Compare(Field("at"), ">=", since),
                        Compare(Field("action"), "=", "terminate"),
                        Compare(Field("actor"), "=", "dave")))  # fmt: skip
    assert audit_query("", AuditFilters(action="fork")) == Compare(Field("action"), "=", "fork")
    assert audit_query("", NO_FILTERS) is None


@pytest.mark.parametrize(
    "query",
    ["actor = {v}", "reason STARTS_WITH {v}", "action IN ({v})", "attributes.k = {v}",
     "NOT workflow = {v} OR actor != {v}"],
)  # fmt: skip
def test_values_only_ever_travel_as_parameters(query: str) -> None:
    statement, params = compiled(query.format(v='"' + HOSTILE + '"'))
    assert "DROP" not in statement and "'; " not in statement
    assert any("; DROP TABLE cx" in str(value) for value in params.values())


def test_bad_filters_are_typed_errors() -> None:
    with pytest.raises(TypeError, match="action must be a str"):
        audit_query("", AuditFilters(action=5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        audit_query("", AuditFilters(since=datetime(2026, 1, 1)))
    with pytest.raises(TypeError, match="query must be a str"):
        audit_query(None, NO_FILTERS)  # type: ignore[arg-type]
