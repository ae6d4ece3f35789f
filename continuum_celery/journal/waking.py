"""Locking a run for a wakeup that replays under the row lock, with no lease.

A lease costs a transaction of its own (a commit, and another round of
statements); it pays off only when a replay may be long. So a wakeup replays in
one transaction under the run-row lock when the run is held live in this
process, or when its history is short enough (``SHORT_HISTORY`` events, a few
milliseconds to replay from the top), and takes a lease otherwise.

The row lock holds off the run's other writers (a completion, a signal) while the
replay runs. A worker frozen inside it (SIGSTOP, a stuck debugger) must not hold
them off for good, so the transaction sets ``idle_in_transaction_session_timeout``
to the lease TTL: Postgres ends the frozen session, which releases the lock and
writes nothing, within the time its lease would have lapsed. A replay that really
runs that long loses its session the same way, and the wakeup then takes the lease
path, whose keeper renews the lease while it works.
"""

from __future__ import annotations

from sqlalchemy import Connection

from .db import Record, execute
from .queries import q

SHORT_HISTORY = 500
"""Events a from-the-top replay may read under the row lock (about 6 µs each)."""

# LOCK_RUN, and the transaction's idle limit (see above); the column is discarded.
LOCK_RUN_TO_WAKE = q(
    "SELECT id, state, lease_owner, lease_token, lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now, workflow, namespace, attributes, depth,"
    " parent_run_id, parent_command_id, correlation_id, next_run_id,"
    " cancel_requested_at IS NOT NULL AS cancelling, cancel_reason, scope,"
    " set_config('idle_in_transaction_session_timeout', :idle_ms, true) AS idle"
    " FROM cx_runs WHERE id = :id FOR UPDATE"
)


def idle_limit(ttl: float) -> str:
    """``idle_in_transaction_session_timeout`` for a TTL in seconds (at least 1 s)."""
    return str(max(int(ttl * 1000), 1000))


def lock_to_wake(conn: Connection, run_id: str, ttl: float) -> Record | None:
    """The run's row, locked until commit by a session that may idle ``ttl`` at most."""
    return execute(conn, LOCK_RUN_TO_WAKE, {"id": run_id, "idle_ms": idle_limit(ttl)}).first()
