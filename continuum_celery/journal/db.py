"""Connections: one SQLAlchemy engine per process, rebuilt after a fork.

Celery's prefork pool forks after the app is imported. A pooled connection
inherited across fork is shared by two processes and corrupts both, so the engine
is created lazily and replaced whenever the process id changes.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine

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

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None
