"""Shared test setup: markers by directory, and real Postgres/Redis for integration tests.

Integration tests need the servers from docker-compose.yml (or scripts/test.sh, which
starts local ones). Without them the tests are skipped on a laptop but fail under CI
(env ``CI`` set), so a broken CI machine can never pass by running nothing.

Overrides: ``CONTINUUM_TEST_PG`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/``) and ``CONTINUUM_TEST_REDIS`` (default
``redis://127.0.0.1:6379``).
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from psycopg import sql

from tests.integration.harness import PHASE_REPORTS, worker_factory

__all__ = ["worker_factory"]  # re-exported so every test module can use the fixture

TESTS_DIR = Path(__file__).resolve().parent
PG_SERVER = os.environ.get("CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/")
REDIS_SERVER = os.environ.get("CONTINUUM_TEST_REDIS", "redis://127.0.0.1:6379")
# Keys in Redis db 0 that claim a test db number, so parallel sessions do not
# flush each other's queues; they expire on their own if a session is killed.
REDIS_CLAIM_KEY = "continuum-test:claimed-db:{}"
REDIS_CLAIM_TTL = 6 * 3600


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark by location so ``-m unit`` / ``-m integration`` need no decorators."""
    for item in items:
        try:
            top = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except ValueError:
            continue
        if top == "integration":
            item.add_marker(pytest.mark.integration)
        elif top == "unit":
            item.add_marker(pytest.mark.unit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report where fixtures can see whether the test failed."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def _unavailable(what: str, error: Exception) -> NoReturn:
    message = f"{what} unreachable ({error}); start it with scripts/test.sh or docker compose"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, empty database for the session, dropped at the end."""
    name = f"cx_test_{secrets.token_hex(4)}"
    admin_url = _with_path(PG_SERVER, "/postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable(f"Postgres at {PG_SERVER}", exc)
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_path(PG_SERVER, f"/{name}")
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            # Killed workers can leave sessions behind; FORCE alone would do, but
            # terminating first keeps this working on servers older than 13 as well.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def claimed_redis_db(label: str, share_when_full: bool) -> Iterator[str]:
    """Claim a Redis db number (1-15) nobody else holds; flushed at start and end.

    The claim is a key in db 0 that expires on its own if a session is killed.
    When all are taken, either share one (``share_when_full``) or fail/skip.
    """
    admin = redis.Redis.from_url(_with_path(REDIS_SERVER, "/0"), socket_connect_timeout=5)
    try:
        admin.ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {REDIS_SERVER}", exc)
    token = f"{os.getpid()}-{label}-{secrets.token_hex(4)}"
    candidates = random.sample(range(1, 16), 15)
    claimed = next(
        (n for n in candidates
         if admin.set(REDIS_CLAIM_KEY.format(n), token, nx=True, ex=REDIS_CLAIM_TTL)),
        None,
    )  # fmt: skip
    if claimed is None:
        if not share_when_full:
            _unavailable("a free Redis db number", RuntimeError("all of 1-15 are claimed"))
        claimed = candidates[0]
    url = _with_path(REDIS_SERVER, f"/{claimed}")
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if admin.get(REDIS_CLAIM_KEY.format(claimed)) == token.encode():
            admin.delete(REDIS_CLAIM_KEY.format(claimed))
        admin.close()


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A Redis database number of our own for the session's shared worker."""
    with claimed_redis_db("session", share_when_full=True) as url:
        yield url
