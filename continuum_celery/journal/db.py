"""Connections: one SQLAlchemy engine per process, rebuilt after a fork.

Celery's prefork pool forks after the app is imported. A pooled connection
inherited across fork is shared by two processes and corrupts both, so the engine
is created lazily and replaced whenever the process id changes.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.pq import ExecStatus
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, TextClause, create_engine, event
from sqlalchemy.exc import DisconnectionError, InterfaceError, NoResultFound, OperationalError

from ..errors import ContinuumError

TUPLES_OK = ExecStatus.TUPLES_OK


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


def drop_if_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Swap out a pooled connection the server has already closed, without a round trip.

    An idle connection has nothing to read; if its socket is readable, the server
    said goodbye (a restart, an idle timeout, a terminated backend). Raising
    ``DisconnectionError`` makes the pool discard it and hand out a fresh one.
    This replaces ``pool_pre_ping``, which costs a round trip per checkout, that
    is per transaction. (A connection cut without a word, a network partition,
    still surfaces on first use; callers that hold work retry on
    ``JournalUnavailable``.)
    """
    if dbapi_connection.closed:
        raise DisconnectionError("connection already closed")
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed this idle connection")


class JournalUnavailable(ContinuumError):
    """Postgres could not be reached; the transaction may or may not have committed."""


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means Postgres could not be reached (say, it is down or
    restarting), as opposed to a bug or a refused statement."""
    lost = (JournalUnavailable, OperationalError, InterfaceError, DisconnectionError)
    return isinstance(error, (*lost, psycopg.OperationalError, psycopg.InterfaceError))


class JournalRejected(ContinuumError, ValueError):
    """Postgres refused a value it cannot store (say, a string it cannot encode or a
    number out of range); the transaction rolled back, so nothing was written.

    The payload check refuses such values up front; this keeps anything it misses
    a clear, typed error instead of a driver exception.
    """


class Database:
    """Lazily built, fork-aware engine holder."""

    def __init__(self, database_url: str, pool_size: int = 5) -> None:
        self.url = sqlalchemy_url(database_url)
        self._pool_size = pool_size
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def dsn(self) -> str:
        """The URL as libpq (and ``psycopg.connect``) spells it."""
        return "postgresql" + self.url[len("postgresql+psycopg") :]

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
            pool_recycle=1800,
        )
        event.listen(engine, "checkout", drop_if_closed_by_server)
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

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A pooled connection in autocommit, for reads that need no snapshot beyond
        their own statement: one round trip each, where a transaction adds a BEGIN
        and ends in a ROLLBACK that does nothing (upkeep reads a few every second)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None


Record = Any
"""A row as psycopg returns it for journal statements: a named tuple."""


class Rows:
    """The few ``Result`` methods the journal uses, over a psycopg cursor.

    Whether a statement returned rows is read off the result's status, not
    ``cursor.description``, which builds a ``Column`` per column on every call:
    for a wide row, a tenth of a millisecond of a signal's CPU.
    """

    __slots__ = ("_cursor",)

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def _has_rows(self) -> bool:
        result = self._cursor.pgresult
        return result is not None and result.status == TUPLES_OK

    def first(self) -> Any:
        return self._cursor.fetchone() if self._has_rows() else None

    def one(self) -> Any:
        row = self.first()
        if row is None:
            raise NoResultFound("the statement returned no row")
        return row

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def all(self) -> list[Any]:
        return self._cursor.fetchall() if self._has_rows() else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())


_PYFORMAT: dict[TextClause, str] = {}


def execute_plain(driver: psycopg.Connection[Any], statement: TextClause) -> None:
    """Run a named statement without parameters (``LISTEN``) on a psycopg connection
    the pool does not own: one whose session state must not reach other users."""
    sql = statement.text
    driver.execute(sql)


SESSION_LOST = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.IdleInTransactionSessionTimeout,
)
"""What a statement raises when its session is gone (for the last: a transaction
left idle past its ``idle_in_transaction_session_timeout``, see ``held``)."""


def execute(
    conn: Connection, statement: TextClause, params: Mapping[str, Any] | None = None
) -> Rows:
    """Run one journal statement straight on the connection's psycopg connection.

    SQLAlchemy still owns the pool, fork safety and the transaction; skipping its
    per-statement machinery (compiled-cache lookup, execution context, result
    metadata) saves about a tenth of a millisecond of CPU per statement, which was
    most of a step's Python time. Values still travel only as bind parameters.
    A lost connection surfaces as ``JournalUnavailable``, as from ``transaction()``,
    and a value Postgres cannot store as ``JournalRejected``.
    """
    sql = _PYFORMAT.get(statement)
    if sql is None:
        sql = _PYFORMAT[statement] = str(statement.compile(dialect=conn.dialect))
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor(row_factory=namedtuple_row)
    try:
        cursor.execute(sql, params)
    except SESSION_LOST as error:
        raise JournalUnavailable(f"Postgres unavailable: {error}") from error
    except (psycopg.DataError, UnicodeEncodeError) as error:
        raise JournalRejected(f"Postgres refused a value: {error}") from error
    return Rows(cursor)
