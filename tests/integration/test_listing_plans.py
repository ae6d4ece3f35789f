"""The listing queries are served by indexes, not by reading every run.

Fills a database of its own with runs of many workflows, states and customers,
ANALYZEs it, and checks the plan Postgres picks for the SQL the query language
compiles to: never a sequential scan of cx_runs, and the index meant for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import text

from continuum_celery.journal.db import Database
from continuum_celery.journal.listing import list_statement
from continuum_celery.journal.migrate import migrate
from continuum_celery.query import parse
from tests.integration.databases import fresh_database

RUNS = 20_000

# 40 workflows, 1 run in 25 failed, 2,000 customers, created over the last 30 days.
_FILL = """
INSERT INTO cx_runs (id, workflow, state, attributes, created_at, completed_at)
SELECT 'run-' || g, 'flow.' || mod(g, 40),
       CASE WHEN mod(g, 25) = 0 THEN 'failed' ELSE 'completed' END,
       jsonb_build_object('customer', 'c-' || mod(g * 7, 2000), 'n', g),
       now() - (g * interval '2 minutes'), now() - (g * interval '2 minutes') + interval '1s'
FROM generate_series(1, {n}) g;
"""


@pytest.fixture(scope="module")
def filled_db(database_url: str) -> Iterator[Database]:
    with fresh_database(database_url, "cx_listing") as url:
        db = Database(url)
        migrate(db)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(_FILL.format(n=RUNS))
            conn.exec_driver_sql("ANALYZE cx_runs")
        yield db
        db.dispose()


def plan(db: Database, query: str, after: tuple[datetime, str] | None = None) -> dict[str, object]:
    statement, params = list_statement(parse(query), "-created_at", 50, after)
    with db.engine.connect() as conn:
        raw = conn.execute(text("EXPLAIN (FORMAT JSON) " + statement), params).scalar_one()
    tree: dict[str, object] = raw[0]["Plan"]
    return tree


def nodes(node: dict[str, object]) -> Iterator[dict[str, object]]:
    yield node
    for child in node.get("Plans", []):  # type: ignore[attr-defined]
        yield from nodes(child)


def indexes_used(tree: dict[str, object]) -> set[str]:
    return {str(n["Index Name"]) for n in nodes(tree) if "Index Name" in n}


def seq_scanned(tree: dict[str, object]) -> set[str]:
    return {str(n.get("Relation Name")) for n in nodes(tree) if n["Node Type"] == "Seq Scan"}


CASES = {
    'state = "failed" AND attributes.customer = "c-42"': {"cx_runs_attention_attributes"},
    'workflow = "flow.7" AND created_at > "-1h"': {"cx_runs_workflow_created"},
    'workflow = "flow.7" AND created_at > -1h': {"cx_runs_workflow_created"},
    'attributes.customer = "c-42"': {"cx_runs_attributes"},
    'attributes.customer IN ("c-42", "c-43")': {"cx_runs_attributes"},
    'state = "failed"': {"cx_runs_state_created"},
    "": {"cx_runs_created"},
    'created_at > "-1d"': {"cx_runs_created"},
}


@pytest.mark.parametrize("query", sorted(CASES))
def test_listing_queries_are_served_by_their_index(filled_db: Database, query: str) -> None:
    tree = plan(filled_db, query)
    assert "cx_runs" not in seq_scanned(tree), json.dumps(tree)[:1500]
    assert indexes_used(tree) & CASES[query], json.dumps(tree)[:1500]


def test_a_later_page_starts_inside_the_index(filled_db: Database) -> None:
    """The cursor's (created_at, id) bound is an index condition, not a filter."""
    with filled_db.engine.connect() as conn:
        middle = conn.execute(text("SELECT created_at, id FROM cx_runs WHERE id = 'run-5007'"))
        key = middle.one()
    tree = plan(filled_db, 'workflow = "flow.7"', (key[0], key[1]))
    assert indexes_used(tree) == {"cx_runs_workflow_created"}, json.dumps(tree)[:1500]
    [scan] = [n for n in nodes(tree) if n.get("Index Name")]
    assert "created_at" in str(scan["Index Cond"]) and "Filter" not in scan
