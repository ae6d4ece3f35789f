"""Waiting for a run to end: LISTEN for the NOTIFY that ``END_RUN`` sends at commit.

A waiter listens first, then checks the run, then waits: an end that commits
between its check and its wait is still delivered, because notifications queue
on the listening connection from the moment LISTEN returns. One notification is
sent per run end (a continue-as-new too, so a waiter can follow the chain), none
per step. The caller still re-checks now and then: a notification can be lost
with its connection, and that must only cost a slow poll, never a hang.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import psycopg

from . import queries as Q
from .db import Database, execute_plain

CHANNEL = "cx_run_ended"
"""Where END_RUN announces run ends (the channel of Q.LISTEN_RUN_ENDS)."""


def libpq_url(db: Database) -> str:
    """The database URL as psycopg takes it (without SQLAlchemy's driver suffix)."""
    return db.url.replace("postgresql+psycopg://", "postgresql://", 1)


class RunEnds:
    """One autocommit connection listening for run ends, for one ``result()`` call.

    If the connection cannot be made or breaks, waiting degrades to sleeping:
    the caller's re-check then is the poll, and the next ``listen()`` retries.
    """

    def __init__(self, db: Database) -> None:
        self._url = libpq_url(db)
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> RunEnds:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def listen(self) -> None:
        """Make sure ends are being delivered from now on (call before checking)."""
        if self._conn is not None and not self._conn.closed:
            return
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            execute_plain(conn, Q.LISTEN_RUN_ENDS)
        except psycopg.Error:
            return
        self._conn = conn

    def wait(self, run_id: str, seconds: float) -> None:
        """Return once ``run_id`` ended (notified) or ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        conn = self._conn
        if conn is None:
            time.sleep(max(seconds, 0.0))
            return
        try:
            while (left := deadline - time.monotonic()) > 0:
                for notice in conn.notifies(timeout=left, stop_after=1):
                    if notice.channel == CHANNEL and notice.payload == run_id:
                        return
        except psycopg.Error:
            self.close()
            time.sleep(max(deadline - time.monotonic(), 0.0))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
