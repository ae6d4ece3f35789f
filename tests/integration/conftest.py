"""One migrated database, one broker and one real worker for the session.

The worker runs without ``-B``: upkeep runs inside it (a worker bootstep).

The client side (starting runs, signalling, reading results) runs in the pytest
process; everything else happens in a ``celery worker`` subprocess.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerProcess

FLOWS = "tests.integration.apps.flows"
BULKY = "tests.integration.apps.bulky"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("activity-calls")


@pytest.fixture(scope="session")
def worker_env(database_url: str, broker_url: str, state_dir: Path) -> dict[str, str]:
    return {
        "CONTINUUM_DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CX_TEST_STATE_DIR": str(state_dir),
    }


@pytest.fixture(scope="session")
def flows(worker_env: dict[str, str]) -> ModuleType:
    """The app module, imported here with the same settings the workers get."""
    os.environ.update(worker_env)
    module = importlib.import_module(FLOWS)
    module.cx.migrate()
    return module


@pytest.fixture(scope="session")
def worker(
    flows: ModuleType, worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        FLOWS,
        concurrency=4,
        env=worker_env,
        log_dir=tmp_path_factory.mktemp("session-worker"),
    )
    process.start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def journal_url(database_url: str) -> Iterator[str]:
    """A migrated database of the module's own, for tests that drive the journal
    directly: their half-finished runs must not reach the session worker's upkeep,
    which would publish their tasks to a worker that has no code for them."""
    with fresh_database(database_url, "cx_journal") as url:
        db = Database(url, pool_size=1)
        migrate(db)
        db.dispose()
        yield url


@pytest.fixture(scope="module")
def journal_db(journal_url: str) -> Iterator[Database]:
    database = Database(journal_url, pool_size=10)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def bulky_db(database_url: str) -> Iterator[str]:
    """The bulk job tests' own database (one per session: the app module reads it
    once, at import); their workers are killed mid-job."""
    with fresh_database(database_url, "cx_bulk") as url:
        yield url


@pytest.fixture(scope="session")
def bulky(bulky_db: str, broker_url: str) -> ModuleType:
    os.environ["BULKY_DATABASE_URL"] = bulky_db
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(BULKY)
    module.cx.migrate()
    return module
