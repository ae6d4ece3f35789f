"""Which journal runs ``replay-check`` reads: the query, plus --workflow and --since."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from continuum_celery import InvalidQuery
from continuum_celery.query import And, Compare, Field, RelativeTime, parse
from continuum_celery.replaying.selection import selection

WEEK = RelativeTime(-7 * 86400)


@pytest.mark.parametrize("since", ["7d", "-7d", "1w"])
def test_since_is_an_age_back_from_now(since: str) -> None:
    assert selection("", None, since) == Compare(Field("created_at"), ">", WEEK)


def test_since_takes_an_iso_time_as_is() -> None:
    node = selection("", None, "2026-11-01")
    assert node == Compare(Field("created_at"), ">", datetime(2026, 11, 1, tzinfo=UTC))


def test_the_shorthands_and_the_query_are_anded() -> None:
    node = selection('state = "running"', 'shop.say "hi"', "7d")
    named = Compare(Field("workflow"), "=", 'shop.say "hi"')
    recent = Compare(Field("created_at"), ">", WEEK)
    assert node == And((parse('state = "running"'), named, recent))


def test_no_filter_selects_every_run() -> None:
    assert selection("", None, None) is None


@pytest.mark.parametrize(("query", "since"), [("", "a week"), ("state ==", None)])
def test_a_bad_filter_is_an_invalid_query(query: str, since: str | None) -> None:
    with pytest.raises(InvalidQuery):
        selection(query, None, since)
