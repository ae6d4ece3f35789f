"""Connections: one SQLAlchemy engine per process, rebuilt after a fork.

Celery's prefork pool forks after the app is imported. A pooled connection
inherited across fork is shared by two processes and corrupts both, so the engine
is created lazily and replaced whenever the process id changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import InterfaceError, OperationalError

from ..errors import ContinuumError


class ConfigurationError(ContinuumError, ValueError):
    """The database URL or settings cannot work."""


def sqlalchemy_url(database_url: str) -> str:
    """Accept the libpq-style URL users know and pick the psycopg 3 driver."""
    scheme = urlsplit(database_url).scheme
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg" + database_url[len(scheme) :]
    if scheme == "postgresql+psycopg":
        return database_url
    raise ConfigurationError(
        f"database_url must be a postgresql:// URL, not {scheme or database_url!r}"
    )


class JournalUnavailable(ContinuumError):
    """Postgres could not be reached; the transaction may or may not have committed."""


class Database:
    """Lazily built, fork-aware engine holder."""

    def __init__(self, database_url: str, pool_size: int = 5) -> None:
        self.url = sqlalchemy_url(database_url)
        self._pool_size = pool_size
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None or self._pid != os.getpid():
            with self._lock:
                engine = self._current_or_new()
        return engine

    def _current_or_new(self) -> Engine:
        if self._engine is not None and self._pid == os.getpid():
            return self._engine
        if self._engine is not None:
            self._engine.dispose(close=False)  # the parent still owns those sockets
        engine = create_engine(
            self.url,
            pool_size=self._pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
        self._engine, self._pid = engine, os.getpid()
        return engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """``engine.begin()``, with lost connections raised as JournalUnavailable.

        Callers that hold work they must not lose (an activity's result) retry on
        it; everything they do is fenced, so a retry of a commit that did land is
        rejected harmlessly.
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, InterfaceError) as error:
            raise JournalUnavailable(f"Postgres unavailable: {error.orig or error}") from error

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None
