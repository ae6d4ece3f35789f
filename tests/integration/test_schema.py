"""Migrations: idempotent, safe when run concurrently, and matching what the code uses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

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
            conn.exec_driver_sql("ALTER TABLE cx_events DROP COLUMN command_id")
            assert schema.differences(conn) == ["cx_events: missing column command_id"]
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
