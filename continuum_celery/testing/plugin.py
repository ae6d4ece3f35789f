"""The pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

- ``continuum_app``: your ``Continuum``. Name it once, in ``pytest.ini`` /
  ``pyproject.toml`` (``continuum_app = "shop.workflows:cx"``) or on the command
  line (``--continuum-app shop.workflows:cx``), or override this fixture in your
  ``conftest.py``.
- ``cx_env``: a fresh :class:`WorkflowEnvironment` of that app for each test: no
  Postgres, no broker, virtual time. Safe under pytest-xdist.
- ``cx_worker``: a real ``celery -A <module> worker`` subprocess against a
  throwaway database made from ``CONTINUUM_DATABASE_URL`` (or the
  ``continuum_database_url`` option), dropped afterwards. For integration tests.

The fixture names do not clash with ``celery.contrib.pytest`` (``celery_app``,
``celery_config``, ``celery_worker``); both plugins can be used in one session.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .environment import WorkflowEnvironment
from .worker import CeleryWorker, throwaway_database

if TYPE_CHECKING:
    from ..core import Continuum

APP_OPTION = "continuum_app"
DATABASE_OPTION = "continuum_database_url"
BROKER_OPTION = "continuum_broker_url"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("continuum", "continuum-celery workflows")
    group.addoption(
        "--continuum-app", dest=APP_OPTION, default=None,
        help="your Continuum as module:attribute, for cx_env and cx_worker",
    )  # fmt: skip
    group.addoption(
        "--continuum-database-url", dest=DATABASE_OPTION, default=None,
        help="server for cx_worker's throwaway database (default: CONTINUUM_DATABASE_URL)",
    )  # fmt: skip
    group.addoption(
        "--continuum-broker-url", dest=BROKER_OPTION, default=None,
        help="broker for cx_worker's worker (default: your app's)",
    )  # fmt: skip
    parser.addini(APP_OPTION, "your Continuum as module:attribute")
    parser.addini(DATABASE_OPTION, "server for cx_worker's throwaway database")
    parser.addini(BROKER_OPTION, "broker for cx_worker's worker")


def _setting(config: pytest.Config, name: str) -> str | None:
    """Command line first, then the ini file."""
    value = config.getoption(name) or config.getini(name)
    return str(value) if value else None


def app_spec(config: pytest.Config) -> str:
    spec = _setting(config, APP_OPTION)
    if spec is None:
        raise pytest.UsageError(
            "cx_env/cx_worker need your Continuum: set continuum_app = module:attribute in "
            "your pytest ini, pass --continuum-app, or override the continuum_app fixture"
        )
    return spec


def load_app(spec: str) -> Any:
    """``module:attribute`` -> the object; a bad spec is a one-line usage error."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(f"continuum_app must be module:attribute, not {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise pytest.UsageError(f"continuum_app {spec!r}: {error}") from None


@pytest.fixture
def continuum_app(pytestconfig: pytest.Config) -> Continuum:
    """Your ``Continuum``; override this fixture to build it another way."""
    app: Continuum = load_app(app_spec(pytestconfig))
    return app


@pytest.fixture
def cx_env(continuum_app: Continuum) -> Iterator[WorkflowEnvironment]:
    """A fresh in-memory environment of your workflows, in virtual time."""
    with WorkflowEnvironment(continuum_app) as env:
        yield env


@pytest.fixture
def cx_worker(pytestconfig: pytest.Config, tmp_path: Path) -> Iterator[CeleryWorker]:
    """A real celery worker of your app on a throwaway database (``.database_url``;
    ``.stop()`` stops it early); the database is dropped afterwards."""
    spec = app_spec(pytestconfig)
    server = _setting(pytestconfig, DATABASE_OPTION) or os.environ.get("CONTINUUM_DATABASE_URL")
    if not server:
        raise pytest.UsageError(
            "cx_worker needs a Postgres server: set CONTINUUM_DATABASE_URL, "
            "continuum_database_url in your pytest ini, or --continuum-database-url"
        )
    broker = _setting(pytestconfig, BROKER_OPTION)
    module = spec.partition(":")[0]
    with throwaway_database(server) as database_url:
        worker = CeleryWorker(module, database_url, tmp_path / "celery-worker.log", broker)
        with worker.start():
            yield worker
