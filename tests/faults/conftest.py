"""Fixtures for the fault-injection suite: a world of its own, and a lab to break it.

Upkeep scans the whole database and workers drain the whole queue, so this suite
never shares either with the rest of the session: it gets a fresh Postgres
database and a Redis db number of its own (claimed like ``tests/conftest.py``
claims the session's), and its app uses its own queue (``chaos``). Between tests
the tables are truncated and the Redis db flushed, so each test starts from an
empty journal and an empty broker, and only its own workers run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate
from tests.conftest import PG_SERVER, claimed_redis_db
from tests.faults.support import Lab, truncate_journal, unavailable
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault injection against real workers (kill, freeze, broker and "
        "database loss); deselect with -m 'not faults'",
    )  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.faults)


# --- the suite's own database and broker ------------------------------------------


@pytest.fixture(scope="package")
def chaos_database_url() -> Iterator[str]:
    """A fresh database, migrated, dropped after the suite (whatever killed workers left)."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(fresh_database(PG_SERVER, "cx_faults"))
        except psycopg.OperationalError as exc:
            unavailable(f"Postgres at {PG_SERVER}", exc)
        db = Database(url, pool_size=1)
        try:
            migrate(db)
        finally:
            db.dispose()
        yield url


@pytest.fixture(scope="package")
def chaos_redis_url() -> Iterator[str]:
    """A Redis db number nobody else holds: sharing would let another session's
    upkeep and workers in, so a full server skips (or fails under CI) instead."""
    with claimed_redis_db("faults", share_when_full=False) as url:
        yield url


@pytest.fixture
def lab(
    worker_factory: WorkerFactory,
    chaos_database_url: str,
    chaos_redis_url: str,
    tmp_path: Path,
) -> Iterator[Lab]:
    truncate_journal(chaos_database_url)
    redis.Redis.from_url(chaos_redis_url).flushdb()
    lab = Lab(worker_factory, chaos_database_url, chaos_redis_url, tmp_path / "state")
    yield lab
    lab.close()
