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

A signaller that may replay the run itself (``Replaying``) also gets, from the
lock statement, the committed events its history cache lacks: a web process
signalling runs it never saw pays no extra read. Read in the lock's statement,
they may miss events committed while it waited for the lock; the count against
the locked row's ``last_seq`` shows that, and the cache then reads the rest. Such
a signaller leaves the run's row alone when it delivers: the decision it writes
next sets ``last_seq`` once, and only a replay that declines marks the run for a
worker (``mark_declined``). Marking and then clearing the wake marker in one
transaction wrote two versions of the row, each in every index of ``cx_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from ..errors import RunFinished, RunNotFound
from . import waking
from .audit import Actor
from .db import Record, execute
from .history import HistoryCache
from .lifecycle import MAX_HOPS
from .queries import q
from .rows import ACTIVE, dumps, events_of, mark_wake, to_event

# The chain's newest run as of this statement, locked. If it continued meanwhile,
# the row comes back 'continued' and the caller tries again from there. It reads
# what LOCK_RUN and RUN_INPUTS do, for a replay in this transaction, and sets the
# transaction's idle limit (the column is discarded). Given :history, it also
# returns the short history's events after :known (after none, for a run other
# than the one named), one array per column.
LOCK_CHAIN_TIP = q(
    "SELECT id, state, lease_owner, lease_token, lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now, workflow, namespace, attributes, depth,"
    " parent_run_id, parent_command_id, correlation_id, next_run_id,"
    " cancel_requested_at IS NOT NULL AS cancelling, cancel_reason, scope, version, args, kwargs,"
    " set_config('idle_in_transaction_session_timeout', :idle_ms, true) AS idle,"
    " h.seqs, h.types, h.command_ids, h.datas, h.created_ats"
    " FROM cx_runs LEFT JOIN LATERAL (SELECT array_agg(e.seq ORDER BY e.seq) AS seqs,"
    " array_agg(e.type ORDER BY e.seq) AS types,"
    " array_agg(e.command_id ORDER BY e.seq) AS command_ids,"
    " array_agg(e.data ORDER BY e.seq) AS datas,"
    " array_agg(e.created_at ORDER BY e.seq) AS created_ats FROM cx_events e"
    " WHERE :history AND cx_runs.last_seq <= :short AND e.run_id = cx_runs.id"
    " AND e.seq > CASE WHEN cx_runs.id = :id THEN :known ELSE 0 END"
    " AND e.seq <= cx_runs.last_seq) h ON true"
    " WHERE cx_runs.id = COALESCE(("
    "WITH RECURSIVE chain (id, state, next_run_id, hops) AS ("
    " SELECT id, state, next_run_id, 0 FROM cx_runs WHERE id = :id"
    " UNION ALL SELECT r.id, r.state, r.next_run_id, chain.hops + 1"
    " FROM chain JOIN cx_runs r ON r.id = chain.next_run_id"
    " WHERE chain.state = 'continued' AND chain.hops < :max_hops)"
    " SELECT id FROM chain ORDER BY hops DESC LIMIT 1), :id) FOR UPDATE OF cx_runs"
)
# Resolve the oldest pending await of the name (journaling the signal and, given
# :mark, setting the wake marker), or else buffer the signal; and the audit row,
# either way. It returns the event as stored (none when buffered).
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
    " WHERE id = :run_id AND :mark AND EXISTS (SELECT FROM event)),"
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
    event it appended, as stored; None when the signal was buffered. ``marked``:
    the run was marked for a wakeup (else the caller replays it, or marks it)."""

    run: Record
    event: Event | None
    marked: bool = True


@dataclass(frozen=True)
class Replaying:
    """A signaller that may replay the run it resumes: its app's scope, and the
    history cache the lock statement fills."""

    scope: str
    histories: HistoryCache


def may_replay(run: Record, replaying: Replaying | None) -> bool:
    """Whether the signaller may replay ``run`` from the top under its lock: of its
    scope, running, no live lease elsewhere, and a short history (a worker may
    hold a longer one live, and resume it in microseconds)."""
    if replaying is None or run.scope != replaying.scope or run.state != "running":
        return False
    idle = run.lease_owner is None or not run.live
    return idle and int(run.last_seq) <= waking.SHORT_HISTORY


def lock_chain_tip(
    conn: Connection, run_id: str, ttl: float, histories: HistoryCache | None = None
) -> Record:
    """The newest run of ``run_id``'s chain, locked by a session that may idle
    ``ttl`` at most; raises if it is not running (``RunFinished`` 'continued' when
    it continued just before the lock). Given ``histories``, what the statement
    read of the run's history goes into it."""
    known = histories.known(run_id) if histories is not None else 0
    params = {
        "id": run_id,
        "max_hops": MAX_HOPS,
        "idle_ms": waking.idle_limit(ttl),
        "history": histories is not None,
        "known": known,
        "short": waking.SHORT_HISTORY,
    }
    run = execute(conn, LOCK_CHAIN_TIP, params).first()
    if run is None:
        raise RunNotFound(f"no run with id {run_id}")
    if run.state not in ACTIVE:
        raise RunFinished(str(run.id), run.state)
    if histories is not None and run.seqs is not None:
        after = known if str(run.id) == run_id else 0
        histories.absorb(str(run.id), after, events_of(run))
    return run


def deliver(
    conn: Connection,
    start: str,
    asked: str,
    signal: tuple[str, Any],
    who: Actor,
    ttl: float,
    replaying: Replaying | None = None,
) -> Delivered:
    """Deliver ``signal`` (name, payload) to the newest run of the chain through
    ``start`` (``asked``: the run the caller named). Under the lock, a signal
    landing just before the run continues is buffered here and moves to the
    successor with the continuation (``MOVE_SIGNALS``)."""
    name, payload = signal
    run = lock_chain_tip(conn, start, ttl, replaying.histories if replaying else None)
    tip, seq = str(run.id), int(run.last_seq) + 1
    mark = not may_replay(run, replaying)
    details = {"name": name} | ({"requested_run_id": asked} if asked != tip else {})
    params = who.row(tip, "signal", details) | {
        "name": name,
        "seq": seq,
        "data": dumps({"name": name, "payload": payload}),
        "payload": dumps(payload),
        "mark": mark,
    }
    row = execute(conn, DELIVER_SIGNAL, params).first()
    return Delivered(run, to_event(row) if row is not None else None, mark)


def mark_declined(conn: Connection, delivered: Delivered) -> None:
    """Mark the run for a wakeup: its signaller did not replay it after all."""
    if delivered.event is not None and not delivered.marked:
        mark_wake(conn, str(delivered.run.id), delivered.event.seq)
