"""Run-level journal operations, each one fenced transaction.

A write locks the run row (``FOR UPDATE``), checks the caller's token against it,
appends events at ``last_seq + 1 ...`` and applies the state change, all in one
transaction. If any check fails the transaction rolls back and a typed
:class:`~continuum_celery.errors.FencingError` is raised: nothing is half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from ..engine.commands import Decision
from ..engine.events import Event
from ..errors import RunFinished, RunNotFound
from . import queries as Q
from . import signals
from .audit import Actor
from .db import Database, Record, execute
from .decisions import commit
from .eager import Decide, continue_eagerly
from .history import HistoryCache
from .lifecycle import chain_tip, request_cancel_tree, terminate_tree
from .records import (
    DEFAULT_SCOPE,
    CommitResult,
    InlineOffer,
    Lease,
    NewRun,
    RunRecord,
    TraceRoot,
)
from .rows import ACTIVE, to_event
from .signalled import Signalled, continue_signalled, replay_failed
from .starts import Started, start_run
from .waking import lock_to_wake

T = TypeVar("T")

log = logging.getLogger("continuum_celery.signals")

TIP_TRIES = 100
"""Tries to catch a chain's tip before giving up (each one usually gains on it)."""


class RunStore:
    """Starting, replay leases and decisions, signals and cancellation."""

    def __init__(
        self,
        db: Database,
        lease_ttl: float = 30.0,
        histories: HistoryCache | None = None,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        self.db = db
        self.lease_ttl = lease_ttl
        self.histories = histories or HistoryCache()
        self.scope = scope
        """Runs start in this scope; only runs of this scope are replayed here."""

    # --- start ------------------------------------------------------------------------

    def start_run(self, run: NewRun) -> tuple[str, bool]:
        """Insert a run ready to replay; returns (run id, created?)."""
        started = self.start(run)
        return started.run_id, started.created

    def start(self, run: NewRun, first: Decision | None = None) -> Started:
        """Insert a run ready to replay, or, given ``first`` (what its first replay
        decides), together with that decision (see ``starts.start_run``)."""
        return start_run(self.db, self.scope, run, self.histories, first)

    # --- replay lease -------------------------------------------------------------

    def acquire(self, run_id: str, owner: str) -> Lease | None:
        """Lease a run that has unseen input, and load its history in the same snapshot."""
        with self.db.engine.begin() as conn:
            row = execute(
                conn,
                Q.ACQUIRE_LEASE,
                {"id": run_id, "owner": owner, "ttl": self.lease_ttl, "scope": self.scope},
            ).first()
            if row is None:
                return None
            events = self.histories.load(conn, run_id, int(row.last_seq))
        return Lease.from_row(run_id, int(row.lease_token), row, events)

    def wake_eagerly(
        self,
        run_id: str,
        decide: Decide,
        inline: InlineOffer | None = None,
        max_history: int | None = None,
    ) -> CommitResult | bool:
        """A wakeup in one transaction: replay under the run-row lock, no lease
        (see ``waking``). True: nothing to do (no due wake marker, or a live lease
        elsewhere that will see the new input). False: this path cannot decide (the
        code is missing here, the run ends and its parent must be locked first, or
        its history is longer than ``max_history``), so take the lease path.
        """
        with self.db.transaction() as conn:
            run = lock_to_wake(conn, run_id, self.lease_ttl)
            if run is None or run.state not in ACTIVE or not run.due or run.scope != self.scope:
                return True  # nothing to do here (another app's run is never touched)
            long = max_history is not None and int(run.last_seq) > max_history
            if run.state == "blocked" or long:  # its replay may be long: take the lease
                return False
            if run.lease_owner is not None and run.live:
                return True
            result = continue_eagerly(conn, run, int(run.last_seq), decide, self.histories, [],
                                      inline)  # fmt: skip
        if result is None:
            return False
        if result.history is not None:
            self.histories.remember(run_id, result.history)
        return result

    def pin_version(self, lease: Lease, version: int) -> bool:
        """Fix the version of a run started by name (stored as 0) at its first lease,
        so every later replay, on any worker, uses the same code; False if the
        lease was lost meanwhile."""
        with self.db.engine.begin() as conn:
            params = {"id": lease.run_id, "token": lease.token, "version": version}
            pinned = execute(conn, Q.PIN_VERSION, params).first() is not None
        if pinned:
            lease.version = version
        return pinned

    def renew(self, lease: Lease) -> bool:
        """Push the lease expiry out while a long replay is still working."""
        with self.db.engine.begin() as conn:
            params = {"id": lease.run_id, "token": lease.token, "ttl": self.lease_ttl}
            return execute(conn, Q.RENEW_LEASE, params).first() is not None

    def release(self, lease: Lease, retry_in: float = 0.0) -> None:
        """Hand the run back untouched, wake marker kept (due in ``retry_in`` seconds)."""
        with self.db.engine.begin() as conn:
            execute(
                conn, Q.DROP_LEASE, {"id": lease.run_id, "token": lease.token, "delay": retry_in}
            )

    def refresh(self, lease: Lease) -> None:
        """Append the events that landed since the lease's history was read."""
        with self.db.engine.connect() as conn:
            rows = execute(conn, Q.LOAD_EVENTS, {"run_id": lease.run_id, "after": lease.last_seq})
            lease.history.extend(to_event(r) for r in rows)

    def commit_decision(
        self, lease: Lease, decision: Decision, inline: InlineOffer | None = None
    ) -> CommitResult:
        """Write one replay's decisions, fenced by the lease (see ``decisions.commit``)."""
        with self.db.engine.begin() as conn:
            result = commit(conn, lease, decision, self.lease_ttl, inline)
        if result.history is not None:  # committed: the next step needs no read
            self.histories.remember(lease.run_id, result.history)
        return result

    # --- signals and cancellation ------------------------------------------------

    def deliver_signal(self, run_id: str, name: str, payload: Any, who: Actor) -> str | None:
        """Resolve a pending await of ``name`` right away, or buffer the signal.

        Lands on the chain's newest run, audited there in the same transaction.
        Returns the run to wake when the signal resolved an await, else None.
        """
        return self.signal(run_id, name, payload, who).woken

    def signal(
        self, run_id: str, name: str, payload: Any, who: Actor, decide: Decide | None = None
    ) -> Signalled:
        """``deliver_signal``, and given ``decide``, the run it resumes replayed and
        its next decisions committed in the same transaction (``signalled``). If
        that replay's part fails, the transaction is rolled back whole and the
        signal delivered again alone."""

        replaying = signals.Replaying(self.scope, self.histories) if decide else None

        def write(conn: Connection, start: str) -> Signalled:
            signal = (name, payload)
            delivered = signals.deliver(conn, start, run_id, signal, who, self.lease_ttl, replaying)
            return continue_signalled(conn, delivered, decide, replaying)

        try:
            signalled = at_chain_tip(self.db, run_id, write, _as_named)
        except Exception as error:
            failed = replay_failed(error)
            if failed is None:
                raise
            log.warning("%s; delivering the signal alone", failed, exc_info=failed.__cause__)
            return self.signal(run_id, name, payload, who)
        if signalled.commit is not None and signalled.commit.history is not None:
            self.histories.remember(signalled.run_id, signalled.commit.history)
        return signalled

    def cancel(self, run_id: str, who: Actor) -> list[str]:
        """Ask the chain's newest run and its live descendants to cancel.

        Journals a ``cancel_requested`` event in each (once: asking again is a
        no-op) and closes their open waits; returns the runs to wake, whose
        workflows then get ``workflow.Cancelled`` at their current wait.
        """

        def write(conn: Connection, tip: str) -> list[str]:
            woken = request_cancel_tree(conn, tip, who.reason, who.actor)
            details = _asked({"first_request": tip in woken}, run_id, tip)
            who.record(conn, tip, "cancel", details)
            return woken

        return at_chain_tip(self.db, run_id, write)

    def terminate(self, run_id: str, who: Actor) -> list[str]:
        """Stop the chain's newest run and its live descendants, running no workflow
        code; returns runs to wake (a parent that should learn its child ended)."""

        def write(conn: Connection, tip: str) -> list[str]:
            woken = terminate_tree(conn, tip, who.reason or "", who.actor)
            who.record(conn, tip, "terminate", _asked({}, run_id, tip))
            return woken

        return at_chain_tip(self.db, run_id, write)

    def tip(self, run_id: str) -> str:
        with self.db.engine.connect() as conn:
            return chain_tip(conn, run_id)

    # --- reads --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        with self.db.engine.connect() as conn:
            row = execute(conn, Q.GET_RUN, {"id": run_id}).first()
        if row is None:
            raise RunNotFound(f"no run with id {run_id}")
        return run_record(row)

    def trace_context(self, run_id: str) -> TraceRoot:
        """Where ``run_id``'s spans belong: the run itself or the nearest ancestor
        with a stored context, else the top of its chain with none (its spans then
        join a trace derived from that run's id)."""
        with self.db.engine.connect() as conn:
            row = execute(conn, Q.RUN_TRACE_CONTEXT, {"id": run_id}).first()
        if row is None:
            return TraceRoot(run_id, None, None)
        return TraceRoot(str(row.id), dict(row.trace) if row.trace else None, row.workflow)

    def history(self, run_id: str) -> list[Event]:
        with self.db.engine.connect() as conn:
            rows = execute(conn, Q.LOAD_EVENTS, {"run_id": run_id, "after": 0})
            return [to_event(r) for r in rows]


def _as_named(_conn: Connection, run_id: str) -> str:
    """For a ``write`` that follows the chain itself as it locks (signals)."""
    return run_id


def at_chain_tip(
    db: Database,
    run_id: str,
    write: Callable[[Connection, str], T],
    find_tip: Callable[[Connection, str], str] = chain_tip,
) -> T:
    """``write(conn, tip)`` in a transaction of its own, on the chain's newest run.

    ``write`` locks the tip and raises ``RunFinished`` if it is not running. The tip
    is read without a lock, so it may continue in between; the transaction that
    continued it has committed its successor by the time the lock is granted, so
    trying again in a fresh transaction, from that run on, finds the new tip. A
    try holds no lock while it follows the chain, only what ``write`` takes (in
    the usual order, ancestors first), so this cannot deadlock with anything.
    """
    for _ in range(TIP_TRIES - 1):
        try:
            with db.engine.begin() as conn:
                return write(conn, find_tip(conn, run_id))
        except RunFinished as finished:
            if finished.state != "continued":
                raise
            run_id = finished.run_id
    with db.engine.begin() as conn:
        return write(conn, find_tip(conn, run_id))


def _asked(details: dict[str, Any], run_id: str, tip: str) -> dict[str, Any]:
    """Details of an action that landed on a chain's newer run name the one asked."""
    return details | {"requested_run_id": run_id} if run_id != tip else details


def run_record(row: Record) -> RunRecord:
    return RunRecord(
        run_id=str(row.id),
        workflow=row.workflow,
        version=int(row.version),
        namespace=row.namespace,
        state=row.state,
        args=list(row.args),
        kwargs=dict(row.kwargs),
        result=row.result,
        error=row.error,
        attributes=dict(row.attributes),
        idempotency_key=row.idempotency_key,
        parent_run_id=str(row.parent_run_id) if row.parent_run_id else None,
        created_at=row.created_at,
        completed_at=row.completed_at,
        wake_at=row.wake_at,
        depth=int(row.depth),
        continued_from=str(row.continued_from) if row.continued_from else None,
        next_run_id=str(row.next_run_id) if row.next_run_id else None,
        correlation_id=str(row.correlation_id) if row.correlation_id else None,
        traceback=row.traceback,
        cancel_requested_at=row.cancel_requested_at,
        cancel_reason=row.cancel_reason,
        forked_from=row.forked_from,
        fork_seq=int(row.fork_seq) if row.fork_seq is not None else None,
    )
