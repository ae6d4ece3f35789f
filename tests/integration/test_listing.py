"""cx.list_runs and cx.count_runs against real Postgres: results, paging, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from sqlalchemy import text

from continuum_celery import Continuum, InvalidQuery

BASE = datetime(2026, 1, 1, tzinfo=UTC)

# id, workflow, state, namespace, attributes, parent, minutes after BASE, ended after
RUNS = [
    ("r01", "shop.order", "failed", "default", {"customer": "c-42", "n": 5}, None, 1, 2),
    ("r02", "shop.order", "failed", "default", {"customer": "c-7", "n": 50}, None, 2, 3),
    ("r03", "shop.order", "completed", "default", {"customer": "c-42"}, None, 3, 4),
    ("r04", "shop.order", "running", "eu", {"customer": "c-42", "vip": True}, None, 4, None),
    ("r05", "shop.refund", "failed", "eu", {"customer": "c-42"}, "r01", 5, 6),
    ("r06", "shop.refund", "running", "default", {}, "r02", 6, None),
    ("r07", "shop.refund", "cancelled", "default", {"customer": None}, None, 7, 8),
    ("r08", "weird'; DROP TABLE cx_runs; --", "completed", "default", {"q": "a\"b'c"},
     None, 8, 9),
    ("r09", "shop.order_100%", "running", "default", {"customer": "c-420"}, None, 9, None),
    ("r10", "shop.orderX", "terminated", "default", {"n": 7.5}, None, 10, 11),
]  # fmt: skip

INSERT = text(
    "INSERT INTO cx_runs (id, workflow, state, namespace, attributes, parent_run_id,"
    " created_at, completed_at) VALUES (:id, :workflow, :state, :namespace,"
    " CAST(:attributes AS jsonb), :parent, :created, :ended)"
)


def insert(cx: Continuum, run: tuple[object, ...]) -> None:
    run_id, flow, state, namespace, attributes, parent, minute, ended = run
    row = {"id": run_id, "workflow": flow, "state": state, "namespace": namespace,
           "attributes": json.dumps(attributes), "parent": parent,
           "created": BASE + timedelta(minutes=minute),  # type: ignore[arg-type]
           "ended": None if ended is None else BASE + timedelta(minutes=ended)}  # type: ignore[arg-type]  # fmt: skip
    with cx.db.engine.begin() as conn:
        conn.execute(INSERT, row)


@pytest.fixture(scope="module")
def cx(journal_url: str) -> Iterator[Continuum]:
    app = Celery("listing", broker="memory://", set_as_current=False)
    engine = Continuum(app, database_url=journal_url)
    for run in RUNS:
        insert(engine, run)
    yield engine
    engine.db.dispose()


def ids(cx: Continuum, query: str, **options: object) -> list[str]:
    page = cx.list_runs(query, limit=1000, order="created_at", **options)  # type: ignore[arg-type]
    return [run.run_id for run in page.runs if run.run_id.startswith("r")]


CASES = [
    ("", [f"r{n:02}" for n in range(1, 11)]),
    ('state = "failed"', ["r01", "r02", "r05"]),
    ("state != 'failed' AND namespace = 'default'", ["r03", "r06", "r07", "r08", "r09", "r10"]),
    ('state = "failed" AND attributes.customer = "c-42"', ["r01", "r05"]),
    ('attributes.customer != "c-42"', ["r02", "r09"]),
    ('NOT attributes.customer = "c-42"', ["r02", "r06", "r07", "r08", "r09", "r10"]),
    ("attributes.n > 6", ["r02", "r10"]),
    ("attributes.n <= 5", ["r01"]),
    ('attributes.customer >= "c-5"', ["r02"]),
    ("attributes.vip = true", ["r04"]),
    ("attributes.customer IS NULL", ["r06", "r07", "r08", "r10"]),
    ("attributes.customer IS NOT NULL", ["r01", "r02", "r03", "r04", "r05", "r09"]),
    ('attributes.customer IN ("c-7", "c-420")', ["r02", "r09"]),
    ('attributes.customer NOT IN ("c-42")', ["r02", "r09"]),
    ('attributes.customer STARTS_WITH "c-4"', ["r01", "r03", "r04", "r05", "r09"]),
    ('attributes.q = "a\\"b\'c"', ["r08"]),
    ('workflow IN ("shop.refund", "nope")', ["r05", "r06", "r07"]),
    ('workflow NOT IN ("shop.refund", "shop.order")', ["r08", "r09", "r10"]),
    ('workflow STARTS_WITH "shop.order_"', ["r09"]),  # _ is literal, not a wildcard
    ('workflow STARTS_WITH "shop.order_100%"', ["r09"]),
    ('workflow = "weird\'; DROP TABLE cx_runs; --"', ["r08"]),
    ('run_id = "r03" OR run_id = "r04"', ["r03", "r04"]),
    ('parent_run_id = "r01"', ["r05"]),
    ("parent_run_id IS NOT NULL", ["r05", "r06"]),
    ('NOT parent_run_id = "r01"', [f"r{n:02}" for n in range(1, 11) if n != 5]),
    ("ended_at IS NULL", ["r04", "r06", "r09"]),
    ('created_at >= "2026-01-01T00:09:00Z"', ["r09", "r10"]),
    ('created_at < "2026-01-01T00:02:00"', ["r01"]),  # no offset: UTC
    ('ended_at > "2026-01-01T00:08:30+00:00"', ["r08", "r10"]),
    ('updated_at >= "2026-01-01T00:09:00Z"', ["r08", "r09", "r10"]),
    ("created_at > -1h", []),
    ('created_at < "-1h" AND state = "running"', ["r04", "r06", "r09"]),
    ('state = "failed" OR state = "running" AND namespace = "eu"', ["r01", "r02", "r04", "r05"]),
    ('(state = "failed" OR state = "running") AND namespace = "eu"', ["r04", "r05"]),
    ('NOT state = "failed" AND NOT namespace = "default"', ["r04"]),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_list_runs_finds_exactly_the_matching_runs(
    cx: Continuum, query: str, expected: list[str]
) -> None:
    assert ids(cx, query) == expected


def test_a_listing_returns_public_runs_newest_first_by_default(cx: Continuum) -> None:
    page = cx.list_runs('namespace = "eu"')
    assert [run.run_id for run in page.runs] == ["r05", "r04"]
    assert page.runs[0].attributes == {"customer": "c-42"} and page.next_cursor is None
    assert page.runs[0].parent_run_id == "r01" and page.runs[0].workflow == "shop.refund"


def test_count_runs_totals_and_groups(cx: Continuum) -> None:
    assert cx.count_runs('workflow STARTS_WITH "shop."') == {(): 9}
    assert cx.count_runs('run_id = "nope"') == {(): 0}
    by_state = cx.count_runs('namespace = "default"', group_by=("state",))
    assert by_state[("failed",)] == 2 and by_state[("running",)] == 2
    pairs = cx.count_runs('state = "failed"', group_by=("workflow", "namespace"))
    assert pairs == {("shop.order", "default"): 2, ("shop.refund", "eu"): 1}


def test_pages_neither_repeat_nor_shift_when_runs_start_between_them(
    cx: Continuum,
) -> None:
    for order in ("created_at", "-created_at"):
        seen, cursor, query = [], None, 'workflow STARTS_WITH "shop"'
        for page_number in range(20):
            page = cx.list_runs(query, limit=2, cursor=cursor, order=order)
            seen += [run.run_id for run in page.runs]
            insert(cx, (f"new-{order}-{page_number}", "shop.new", "running", "default", {},
                        None, 100 + page_number, None))  # fmt: skip
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = [f"r{n:02}" for n in range(1, 11) if n != 8]
        assert [s for s in seen if s.startswith("r")] == (
            expected if order == "created_at" else expected[::-1]
        )
        assert len(seen) == len(set(seen))
        with cx.db.engine.begin() as conn:
            conn.execute(text("DELETE FROM cx_runs WHERE id LIKE 'new-%'"))


def test_a_cursor_only_continues_its_own_listing(cx: Continuum) -> None:
    page = cx.list_runs('state = "failed"', limit=1)
    assert page.next_cursor is not None
    with pytest.raises(ValueError, match="another query"):
        cx.list_runs('state = "running"', limit=1, cursor=page.next_cursor)
    with pytest.raises(ValueError, match="another query"):
        cx.list_runs('state = "failed"', limit=1, cursor=page.next_cursor, order="created_at")


@pytest.mark.parametrize("cursor", ["garbage", "", "!!!!", "eyJ4IjogMX0", "W10", "bnVsbA"])
def test_garbled_cursors_are_refused(cx: Continuum, cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        cx.list_runs("", cursor=cursor)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"limit": 0}, ValueError),
        ({"limit": 1001}, ValueError),
        ({"limit": "10"}, TypeError),
        ({"limit": True}, TypeError),
        ({"cursor": 5}, TypeError),
        ({"order": "state"}, InvalidQuery),
        ({"order": None}, TypeError),
    ],
)
def test_bad_listing_arguments_raise_typed_errors(
    cx: Continuum, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        cx.list_runs("", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("group_by", "error"),
    [("state", TypeError), (("result",), InvalidQuery), (("state", "state"), InvalidQuery)],
)
def test_bad_group_by_raises_typed_errors(
    cx: Continuum, group_by: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        cx.count_runs("", group_by=group_by)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "hostile",
    [
        "state = 'x' OR 1=1",
        "state = 'x'; DROP TABLE cx_runs",
        'state = "x" -- comment',
        'state = "\x00"',
        "attributes.a'b = 1",
        "created_at > now()",
        "workflow = pg_sleep(1)",
    ],
)
def test_hostile_queries_are_refused_cleanly(cx: Continuum, hostile: str) -> None:
    with pytest.raises(InvalidQuery):
        cx.list_runs(hostile)
    assert cx.count_runs() == {(): 10}


@pytest.mark.parametrize(
    "data", ["'; DROP TABLE cx_runs; --", "x' OR '1'='1", "%", "_", "\\", ":p0", "%(p0)s"]
)
def test_hostile_strings_are_only_data(cx: Continuum, data: str) -> None:
    quoted = '"' + data.replace("\\", "\\\\").replace('"', '\\"') + '"'
    for field in ("workflow", "attributes.customer", "attributes.x"):
        assert cx.list_runs(f"{field} = {quoted}").runs == []
        assert cx.list_runs(f"{field} STARTS_WITH {quoted}").runs == []
    assert cx.count_runs() == {(): 10}
