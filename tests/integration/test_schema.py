"""Migrations: idempotent, safe when run concurrently, and matching what the code uses."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import Connection, text

from continuum_celery import Continuum, workflow
from continuum_celery.journal import migrate as migrate_module
from continuum_celery.journal import schema
from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import available, migrate
from tests.integration.databases import fresh_database


@pytest.fixture
def fresh_db(database_url: str) -> Iterator[str]:
    """An empty database of its own, so concurrent first-time migration is real."""
    with fresh_database(database_url, "cx_schema") as url:
        yield url


def migrate_in_process(url: str) -> list[int]:
    db = Database(url, pool_size=1)
    try:
        return migrate(db)
    finally:
        db.dispose()


def test_concurrent_migrations_apply_each_version_once(fresh_db: str) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(migrate_in_process, [fresh_db] * 4))
    versions = [m.version for m in available()]
    applied = [v for result in results for v in result]
    assert sorted(applied) == versions, f"each version applied exactly once: {results}"
    assert migrate_in_process(fresh_db) == [], "a second call has nothing to do"


def test_migrated_schema_matches_the_code(fresh_db: str) -> None:
    migrate_in_process(fresh_db)
    db = Database(fresh_db, pool_size=1)
    try:
        with db.engine.connect() as conn:
            assert schema.differences(conn) == []
            conn.exec_driver_sql("ALTER TABLE cx_events DROP COLUMN command_id CASCADE")
            gone = ["cx_events: missing column command_id", "missing view continuum_events"]
            assert schema.differences(conn) == gone, "the view on it went with it"
            conn.exec_driver_sql("ALTER TABLE cx_waits ALTER COLUMN run_id TYPE uuid USING NULL")
            assert schema.differences(conn)[1] == "cx_waits: column run_id is uuid, not text"
    finally:
        db.dispose()


def test_the_operator_views_keep_their_columns_in_order(fresh_db: str) -> None:
    """The views are a contract: a missing view or a reordered column is reported."""
    migrate_in_process(fresh_db)
    db = Database(fresh_db, pool_size=1)
    try:
        with db.engine.connect() as conn:
            assert schema.view_differences(conn) == []
            conn.exec_driver_sql("DROP VIEW continuum_attempts")
            conn.exec_driver_sql("DROP VIEW continuum_events")
            conn.exec_driver_sql("CREATE VIEW continuum_events AS SELECT run_id, seq,"
                                 " command_id, type, data, created_at FROM cx_events")  # fmt: skip
            assert schema.view_differences(conn) == [
                "continuum_events: columns are run_id, seq, command_id, type, data, created_at,"
                " not run_id, seq, type, command_id, data, created_at",
                "missing view continuum_attempts",
            ]
    finally:
        db.dispose()


def test_migrations_ship_inside_the_package() -> None:
    migrations = available()
    assert migrations and migrations[0].version == 1
    assert "CREATE TABLE cx_runs" in migrations[0].sql


def test_cli_migrate_is_idempotent(fresh_db: str) -> None:
    command = [sys.executable, "-m", "continuum_celery.cli", "--database-url", fresh_db,
               "migrate"]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"applied {[m.version for m in available()]}" in first.stdout
    assert "up to date" in second.stdout


def test_cli_rejects_a_missing_database_url() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "continuum_celery.cli", "migrate"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "CONTINUUM_DATABASE_URL" in done.stderr


# --- 0003: run ids become text ---------------------------------------------------------

PARENT, CHILD, FIRST, NEXT = (str(uuid.uuid4()) for _ in range(4))
TASK = str(uuid.uuid4())
# Rows as version 2 wrote them: a parent waiting on a child and an activity, and a
# continue-as-new chain whose tip has a buffered signal.
IDS = {"parent": PARENT, "child": CHILD, "first": FIRST, "next": NEXT, "task": TASK}
V2_ROWS = [
    "INSERT INTO cx_runs (id, workflow, args, last_seq, wake_at)"
    " VALUES (:parent, 'ids.parent', '[]', 2, NULL)",
    "INSERT INTO cx_runs (id, workflow, args, parent_run_id, parent_command_id, depth)"
    " VALUES (:child, 'ids.waiter', '[]', :parent, 'child:ids.waiter:1', 1)",
    "INSERT INTO cx_runs (id, workflow, args, state, next_run_id, result)"
    " VALUES (:first, 'ids.waiter', '[]', 'continued', :next, '{}')",
    "INSERT INTO cx_runs (id, workflow, args, continued_from, correlation_id, wake_at)"
    " VALUES (:next, 'ids.waiter', '[]', :first, :first, clock_timestamp())",
    "INSERT INTO cx_events (run_id, seq, type, command_id, data) VALUES"
    " (:parent, 1, 'child_started', 'child:ids.waiter:1',"
    " jsonb_build_object('child_run_id', CAST(:child AS text))),"
    " (:parent, 2, 'activity_scheduled', 'activity:ids.noop:1',"
    " jsonb_build_object('task_id', CAST(:task AS text)))",
    "INSERT INTO cx_tasks (id, run_id, command_id, activity, timeout, retry)"
    " VALUES (:task, :parent, 'activity:ids.noop:1', 'ids.noop', 60, '{}')",
    "INSERT INTO cx_waits (run_id, command_id, kind, name)"
    " VALUES (:child, 'signal:go:1', 'signal', 'go')",
    "INSERT INTO cx_signals (run_id, name, payload) VALUES (:next, 'go', '\"buffered\"')",
    "INSERT INTO cx_start_keys (namespace, workflow, idempotency_key, run_id)"
    " VALUES ('default', 'ids.parent', 'k-1', :parent)",
    "INSERT INTO cx_activity_results (activity, idempotency_key, result, run_id)"
    " VALUES ('ids.noop', 'k-1', '1', :parent)",
]


def migrate_to(url: str, version: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    shipped = available()
    with monkeypatch.context() as patch:
        patch.setattr(migrate_module, "available", lambda: [m for m in shipped
                                                            if m.version <= version])  # fmt: skip
        return migrate_in_process(url)


def column_types(conn: Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute(
        text("SELECT table_name, column_name, data_type FROM information_schema.columns"
             " WHERE table_schema = current_schema()")
    )  # fmt: skip
    return {(table, column): kind for table, column, kind in rows}


@pytest.fixture
def v2_database(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    assert migrate_to(fresh_db, 2, monkeypatch) == [1, 2]
    db = Database(fresh_db, pool_size=1)
    with db.engine.begin() as conn:
        for statement in V2_ROWS:
            conn.execute(text(statement), IDS)
    db.dispose()
    return fresh_db


@pytest.fixture
def migrated(v2_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Continuum]:
    latest = max(m.version for m in available())
    assert 3 in migrate_to(v2_database, latest, monkeypatch)  # 3, and whatever follows it
    app = Celery("ids", broker="memory://", set_as_current=False)
    cx = Continuum(app, database_url=v2_database)

    @cx.workflow(name="ids.waiter")
    def waiter() -> Any:
        return workflow.wait_signal("go")

    yield cx
    cx.db.dispose()


def test_migration_3_turns_run_ids_into_text_and_keeps_every_link(migrated: Continuum) -> None:
    with migrated.db.engine.connect() as conn:
        kinds = column_types(conn)
        assert {kinds[column] for column in schema.RUN_ID_COLUMNS} == {"text"}
        assert kinds[("cx_tasks", "id")] == "uuid", "activity task ids stay uuids"
        assert schema.differences(conn) == []
    parent = migrated.get_run(PARENT.upper())  # any spelling of a UUID still finds it
    assert parent.run_id == PARENT
    assert next(e.data for e in migrated.history(PARENT)) == {"child_run_id": CHILD}
    assert migrated.get_run(CHILD).parent_run_id == PARENT
    assert [t.task_id for t in migrated.activity_tasks(PARENT)] == [TASK]
    assert migrated.get_run(NEXT).continued_from == FIRST


def test_runs_recorded_before_migration_3_still_work(migrated: Continuum) -> None:
    assert migrated.advancer.advance(NEXT), "the tip consumes the buffered signal and ends"
    assert migrated.run(FIRST).result(timeout=10) == "buffered", "the handle follows the chain"
    migrated.terminate(PARENT.replace("-", ""), "recorded before migration 3")
    assert migrated.get_run(CHILD).state == "terminated", "the terminate reached the child"
    handle = migrated.start("ids.waiter", run_id="order-42")
    migrated.signal("order-42", "go", "text id")
    migrated.advancer.advance(handle.run_id)
    assert handle.result(timeout=10) == "text id"
