"""One migrated database, one broker and one real worker (with beat) for the session.

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

from tests.integration.harness import WorkerProcess

FLOWS = "tests.integration.apps.flows"


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
        beat=True,
        env=worker_env,
        log_dir=tmp_path_factory.mktemp("session-worker"),
    )
    process.start()
    yield process
    process.kill()
