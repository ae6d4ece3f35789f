"""The operator views (``continuum_runs``, ``continuum_events``,
``continuum_attempts``): present after migrating, filled from a real run, and
refusing writes."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from continuum_celery.journal.db import Database
from continuum_celery.journal.schema import EXPECTED_VIEWS
from tests.integration.harness import WorkerProcess


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    db = Database(database_url, pool_size=1)
    with db.engine.connect() as connection:
        yield connection
    db.dispose()


def rows(conn: Connection, sql: str, run_id: str) -> list[dict[str, object]]:
    return [dict(row._mapping) for row in conn.execute(text(sql), {"id": run_id})]


def test_views_show_a_finished_run_its_events_and_attempts(
    conn: Connection, flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.chain.apply_async((2,), attributes={"customer": "c-views"})
    assert handle.result(timeout=20) == 1
    [run] = rows(conn, "SELECT * FROM continuum_runs WHERE id = :id", handle.run_id)
    assert tuple(run) == EXPECTED_VIEWS["continuum_runs"]
    assert run["state"] == "completed" and run["workflow"] == flows.chain.name
    assert run["attributes"] == {"customer": "c-views"} and run["ended_at"] is not None
    assert run["updated_at"] == run["ended_at"]
    events = rows(conn, "SELECT * FROM continuum_events WHERE run_id = :id ORDER BY seq",
                  handle.run_id)  # fmt: skip
    assert [e["type"] for e in events] == [e.type for e in flows.cx.history(handle.run_id)]
    attempts = rows(conn, "SELECT * FROM continuum_attempts WHERE run_id = :id", handle.run_id)
    assert len(attempts) == 2
    assert {(a["attempt"], a["outcome"]) for a in attempts} == {(1, "completed")}
    assert all(a["activity"] == flows.add.name and a["finished_at"] for a in attempts)


FIRST_COLUMN = {view: columns[0] for view, columns in EXPECTED_VIEWS.items()}


@pytest.mark.parametrize("view", sorted(EXPECTED_VIEWS))
def test_a_write_through_a_view_is_refused(conn: Connection, view: str) -> None:
    with pytest.raises(DBAPIError, match="read-only"):
        conn.execute(text(f"INSERT INTO {view} ({FIRST_COLUMN[view]}) VALUES ('forged')"))  # noqa: S608
    conn.rollback()
