"""Upkeep leadership, and the listener that tells the leader a wait fires soon.

Upkeep runs inside every worker; the one holding its scope's leader row does each
tick's work, so a hundred workers cost the database what one does, and each app
sharing the database (each scope) has a leader of its own. The row is a lease
with an expiry on the database clock: a leader that dies, freezes or loses the
network stops renewing it, and another worker takes over once it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Connection

from . import queries as Q
from .db import Database, JournalUnavailable, execute
from .queries import q
from .records import DEFAULT_SCOPE

# One worker per scope leads that scope's upkeep by holding the scope's leader row:
# taking it when it is free or expired, renewing it while it is its own. Expiry is
# judged by the database clock. (``id`` is always 1: a relic of the single row.)

LEAD_UPKEEP = q(
    "INSERT INTO cx_upkeep_leader AS l (id, scope, owner, expires_at)"
    " VALUES (1, :scope, :owner, clock_timestamp() + make_interval(secs => :ttl))"
    " ON CONFLICT (scope) DO UPDATE SET owner = EXCLUDED.owner,"
    " expires_at = EXCLUDED.expires_at,"
    " since = CASE WHEN l.owner = EXCLUDED.owner THEN l.since ELSE clock_timestamp() END"
    " WHERE l.owner = EXCLUDED.owner OR l.expires_at <= clock_timestamp()"
    " RETURNING owner"
)
RESIGN_UPKEEP = q(
    "UPDATE cx_upkeep_leader SET expires_at = clock_timestamp()"
    " WHERE scope = :scope AND owner = :owner"
)
UPKEEP_LEADER = q(
    "SELECT owner, since, expires_at > clock_timestamp() AS live FROM cx_upkeep_leader"
    " WHERE scope = :scope"
)
LISTEN_WAITS = q("LISTEN cx_waits")


@dataclass(frozen=True)
class Leadership:
    owner: str
    since: datetime
    live: bool


class UpkeepLeader:
    def __init__(self, db: Database, scope: str = DEFAULT_SCOPE) -> None:
        self.db = db
        self.scope = scope

    def lead(self, owner: str, ttl: float) -> bool:
        """Take or renew the scope's leader row; True while ``owner`` holds it."""
        params = {"owner": owner, "ttl": ttl, "scope": self.scope}
        with self.db.engine.begin() as conn:
            row = execute(conn, LEAD_UPKEEP, params).first()
        return row is not None

    def resign(self, owner: str) -> None:
        """Let the next worker take over at once instead of after the expiry."""
        with self.db.engine.begin() as conn:
            execute(conn, RESIGN_UPKEEP, {"owner": owner, "scope": self.scope})

    def current(self) -> Leadership | None:
        with self.db.engine.connect() as conn:
            row = execute(conn, UPKEEP_LEADER, {"scope": self.scope}).first()
        return None if row is None else Leadership(row.owner, row.since, bool(row.live))

    def next_wait_in(self) -> float | None:
        """Seconds until the scope's earliest unresolved wait fires; None when none has
        a time (another app's overdue waits never keep this leader awake)."""
        with self.db.read() as conn:
            seconds = execute(conn, Q.NEXT_WAIT_DUE_IN, {"scope": self.scope}).scalar()
        return None if seconds is None else float(seconds)


class WaitListener:
    """A connection of its own that LISTENs for waits inserted to fire soon.

    Only the leader holds one; everybody else's decisions just send the NOTIFY
    (from ``INSERT_WAIT``) at commit, which costs nothing when nobody listens.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Connection | None = None

    def listen(self) -> None:
        """Connect and LISTEN now, so no notification is missed before the first wait."""
        self._driver()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True when woken by a notification."""
        driver = self._driver()
        woken = any(True for _ in driver.notifies(timeout=max(timeout, 0.0), stop_after=1))
        if woken:  # several waits committed together wake us once
            for _ in driver.notifies(timeout=0.0):
                pass
        return woken

    def close(self) -> None:
        """Hang up; the connection is discarded, never handed back to the pool."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.invalidate()
            conn.close()

    def _driver(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                execute(conn, LISTEN_WAITS)
            except BaseException:
                conn.invalidate()
                conn.close()
                raise
            self._conn = conn
        driver = self._conn.connection.driver_connection
        if driver is None:
            raise JournalUnavailable("the wait listener's connection is gone")
        return cast("psycopg.Connection[Any]", driver)
