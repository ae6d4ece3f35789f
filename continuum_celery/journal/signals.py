"""Delivering a signal in two statements: lock the chain's newest run, then write.

A signal used to cost nine round trips (find the chain's tip, lock it, look for
an await, resolve it, append the event, set the wake marker, write the audit row,
plus BEGIN and COMMIT), which kept one client near 150 signals a second. Now the
tip is found and locked in one statement and everything else is written in a
second, so it is four.

The lock must stay a statement of its own: in READ COMMITTED each statement sees
the commits made before it started, so the await a decision committed while we
waited for the row lock is visible to the write that follows. Read in the same
statement as the lock, it would not be, and the signal would be buffered with
nobody to wake the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from ..errors import RunFinished, RunNotFound
from .audit import Actor
from .db import Record, execute
from .lifecycle import MAX_HOPS
from .queries import q
from .rows import ACTIVE, dumps, to_event
from .waking import idle_limit

# The chain's newest run as of this statement, locked. If it continued meanwhile,
# the row comes back 'continued' and the caller tries again from there. It reads
# what LOCK_RUN and RUN_INPUTS do, for a replay in this transaction, and sets the
# transaction's idle limit (the column is discarded).
LOCK_CHAIN_TIP = q(
    "SELECT id, state, lease_owner, lease_token, lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now, workflow, namespace, attributes, depth,"
    " parent_run_id, parent_command_id, correlation_id, next_run_id,"
    " cancel_requested_at IS NOT NULL AS cancelling, cancel_reason, scope, version, args, kwargs,"
    " set_config('idle_in_transaction_session_timeout', :idle_ms, true) AS idle"
    " FROM cx_runs WHERE id = COALESCE(("
    "WITH RECURSIVE chain (id, state, next_run_id, hops) AS ("
    " SELECT id, state, next_run_id, 0 FROM cx_runs WHERE id = :id"
    " UNION ALL SELECT r.id, r.state, r.next_run_id, chain.hops + 1"
    " FROM chain JOIN cx_runs r ON r.id = chain.next_run_id"
    " WHERE chain.state = 'continued' AND chain.hops < :max_hops)"
    " SELECT id FROM chain ORDER BY hops DESC LIMIT 1), :id) FOR UPDATE"
)
# Resolve the oldest pending await of the name (journaling the signal and setting
# the wake marker), or else buffer the signal; and the audit row, either way. It
# returns the event as stored (none when buffered).
DELIVER_SIGNAL = q(
    "WITH waiting AS (SELECT command_id FROM cx_waits"
    " WHERE run_id = :run_id AND kind = 'signal' AND name = :name AND NOT resolved"
    " ORDER BY created_at, command_id LIMIT 1),"
    " resolved AS (UPDATE cx_waits w SET resolved = true FROM waiting"
    " WHERE w.run_id = :run_id AND w.command_id = waiting.command_id AND NOT w.resolved"
    " RETURNING w.command_id),"
    " event AS (INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " SELECT :run_id, :seq, 'signal_received', command_id, CAST(:data AS jsonb) FROM resolved"
    " RETURNING seq, type, command_id, data, created_at),"
    " marked AS (UPDATE cx_runs SET last_seq = :seq,"
    " wake_at = COALESCE(wake_at, clock_timestamp())"
    " WHERE id = :run_id AND EXISTS (SELECT FROM event)),"
    " buffered AS (INSERT INTO cx_signals (run_id, name, payload)"
    " SELECT :run_id, :name, CAST(:payload AS jsonb) WHERE NOT EXISTS (SELECT FROM waiting)),"
    " audit AS (INSERT INTO cx_audit (run_id, action, actor, reason, details, job_id)"
    " VALUES (:run_id, :action, :actor, :reason, CAST(:details AS jsonb), :job_id))"
    " SELECT seq, type, command_id, data, created_at FROM event"
)


@dataclass(frozen=True)
class Delivered:
    """A signal written, its transaction still open: the run it landed on (the
    chain's newest, locked, as read before the write) and the ``signal_received``
    event it appended, as stored; None when the signal was buffered."""

    run: Record
    event: Event | None


def lock_chain_tip(conn: Connection, run_id: str, ttl: float) -> Record:
    """The newest run of ``run_id``'s chain, locked by a session that may idle
    ``ttl`` at most; raises if it is not running (``RunFinished`` 'continued' when
    it continued just before the lock)."""
    params = {"id": run_id, "max_hops": MAX_HOPS, "idle_ms": idle_limit(ttl)}
    run = execute(conn, LOCK_CHAIN_TIP, params).first()
    if run is None:
        raise RunNotFound(f"no run with id {run_id}")
    if run.state not in ACTIVE:
        raise RunFinished(str(run.id), run.state)
    return run


def deliver(
    conn: Connection, start: str, asked: str, signal: tuple[str, Any], who: Actor, ttl: float
) -> Delivered:
    """Deliver ``signal`` (name, payload) to the newest run of the chain through
    ``start`` (``asked``: the run the caller named). Under the lock, a signal
    landing just before the run continues is buffered here and moves to the
    successor with the continuation (``MOVE_SIGNALS``)."""
    name, payload = signal
    run = lock_chain_tip(conn, start, ttl)
    tip, seq = str(run.id), int(run.last_seq) + 1
    details = {"name": name} | ({"requested_run_id": asked} if asked != tip else {})
    params = who.row(tip, "signal", details) | {
        "name": name,
        "seq": seq,
        "data": dumps({"name": name, "payload": payload}),
        "payload": dumps(payload),
    }
    row = execute(conn, DELIVER_SIGNAL, params).first()
    return Delivered(run, to_event(row) if row is not None else None)
