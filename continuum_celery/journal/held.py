"""Claims held in an open transaction: one commit per delivered step.

A delivered attempt is claimed by a transaction that stays open while its body
runs (a transaction-scoped advisory lock on the task keeps duplicate deliveries
out) and is settled in that same transaction, so a short attempt costs one
commit: its completion, together with the run's next decisions.

Nothing about such a claim is durable until then, and that is safe: a claim lost
with its connection (the worker died, or Postgres ended the session) leaves the
task ready at the same attempt, so its message is redelivered or upkeep publishes
it again, and nothing the lost holder does afterwards can commit (its completion
is a compare-and-swap on the task still being ready at that attempt).

A held claim is made durable (promoted: claimed with a token and committed, as an
ordinary claim) before anything that needs it visible: a heartbeat, the keeper's
first renewal (so a long attempt shows as running, and is expired like any other
if its worker dies), a failure to settle. The session's
``idle_in_transaction_session_timeout`` is the claim TTL, so a worker frozen
mid-body (SIGSTOP) before promotion loses its session, and with it the claim,
within the time an ordinary claim would expire.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, RootTransaction
from sqlalchemy.exc import InterfaceError, OperationalError

from .db import Database, JournalUnavailable, Record, execute
from .queries import q
from .records import ClaimedTask

T = TypeVar("T")

_LOCK_CLASS = 0x6378  # "cx": advisory locks (int4, int4) of held claims
"""The two-key advisory lock space never meets the one-key locks (migrations)."""

# Take the task's advisory lock, then read the attempt, only for a ready task at
# exactly the attempt the message names, of a running run (the compare of
# CLAIM_TASK, which here writes nothing). The lock is tried first (the row lock
# sits above the join): FOR KEY SHARE then reads the row's latest version, so a
# duplicate that got the lock just as the holder committed sees the task settled.
# KEY SHARE blocks no update of the row (upkeep, a run that ends), only FOR UPDATE,
# which is taken on claimed tasks alone. The session may then sit idle in this
# transaction for at most the claim TTL.
HOLD_TASK = q(
    "SELECT t.id, t.run_id, t.command_id, t.activity, t.attempt, t.args, t.kwargs,"
    " t.timeout, t.kind, t.idempotency_key, t.queue, t.publish_count,"
    " clock_timestamp() AS held_at,"
    " extract(epoch FROM clock_timestamp() - t.available_at) AS waited,"
    " set_config('idle_in_transaction_session_timeout', :idle_ms, true) AS idle"
    " FROM (SELECT pg_try_advisory_xact_lock(:lock_class, :lock_key) AS got OFFSET 0) l,"
    " cx_tasks t JOIN cx_runs r ON r.id = t.run_id"
    " WHERE l.got AND t.id = :id AND t.attempt = :attempt AND t.activity = :activity"
    " AND t.state = 'ready' AND t.available_at <= clock_timestamp()"
    " AND r.state IN ('running', 'blocked') AND t.scope = :scope"
    " FOR KEY SHARE OF t"
)
# Promotion: the held claim becomes an ordinary one (token, expiry, attempt row),
# its deadline counted from when it was held. Only if the task is still ready at
# that attempt: a run that ended meanwhile cancelled it, and the claim is lost.
PROMOTE_HELD = q(
    "WITH claimed AS ("
    " UPDATE cx_tasks t SET state = 'claimed', claim_token = nextval('cx_token_seq'),"
    " claim_expires_at = clock_timestamp() + make_interval(secs => LEAST(t.timeout, :ttl)),"
    " deadline_at = CAST(:held_at AS timestamptz) + make_interval(secs => t.timeout),"
    " heartbeat_at = NULL, heartbeat_details = NULL, claimed_by = :owner"
    " WHERE t.id = :id AND t.attempt = :attempt AND t.state = 'ready'"
    " AND EXISTS (SELECT 1 FROM cx_runs r WHERE r.id = t.run_id"
    " AND r.state IN ('running', 'blocked'))"
    " RETURNING t.id, t.attempt, t.claim_token),"
    " attempt AS (INSERT INTO cx_attempts (task_id, attempt, claim_token, started_at)"
    " SELECT id, attempt, claim_token, CAST(:held_at AS timestamptz) FROM claimed)"
    " SELECT claim_token FROM claimed"
)


def lock_params(task_id: str) -> dict[str, int]:
    """The parameters naming the task's advisory lock, for any statement that claims."""
    return {"lock_class": _LOCK_CLASS, "lock_key": lock_key(task_id)}


def lock_key(task_id: str) -> int:
    """The task's advisory lock key: 32 bits of its id, as a signed int4."""
    bits = uuid.UUID(task_id).int & 0xFFFFFFFF
    return bits - (1 << 32) if bits >= 1 << 31 else bits


class HeldClaim:
    """A claim in an open transaction, settled there or promoted to a durable one.

    The keeper thread may promote it while the body runs; a lock keeps that and
    the settling transaction apart. ``claim`` is the claim as it stands: token 0
    while held, the committed token once promoted.
    """

    def __init__(
        self, db: Database, conn: Connection, tx: RootTransaction, claim: ClaimedTask,
        held_at: datetime, owner: str | None, ttl: float,
    ) -> None:  # fmt: skip
        self.db, self.claim, self.held_at, self.owner, self.ttl = db, claim, held_at, owner, ttl
        self._conn: Connection | None = conn
        self._tx = tx
        self._lock = threading.Lock()
        self.promoted = False
        self.lost = False
        self.settled = False

    def settle(self, work: Callable[[Connection], T | None]) -> T | None:
        """Run ``work`` in the holding transaction and commit it; None (nothing
        written) when the claim is no longer held there or ``work`` found nothing
        to do. Any error ends the holding transaction: the claim is then retaken
        durably (``promote``) before settling again."""
        with self._lock:
            if self._conn is None:
                return None
            try:
                done = work(self._conn)
                if done is not None:
                    _end(self._tx.commit)
                    self.settled = True
                return done
            except JournalUnavailable:
                return None  # the session is gone (say, idle past the TTL): retake it
            finally:
                self._close()

    def promote(self) -> ClaimedTask | None:
        """The claim, committed as an ordinary claim; None once it is lost."""
        with self._lock:
            if self.promoted or self.lost or self.settled:
                return self.claim if self.promoted else None
            try:
                conn = self._conn
                token = self._promote_in_held(conn) if conn is not None else self._retake()
            finally:
                self._close()
            if token is None:
                self.lost = True
                return None
            self.claim = replace(self.claim, claim_token=token)
            self.promoted = True
            return self.claim

    def release(self) -> None:
        """Give up a claim still held (nothing committed: the task stays ready)."""
        with self._lock:
            self._close()

    def _promote_in_held(self, conn: Connection) -> int | None:
        token = _promote(conn, self)
        _end(self._tx.commit)
        return token

    def _retake(self) -> int | None:
        """The holding transaction ended without settling: claim the attempt anew,
        if it is still ready (a redelivery may have taken it meanwhile)."""
        with self.db.transaction() as conn:
            return _promote(conn, self)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # closing rolls back whatever was not committed; a session that is
            # gone took its transaction with it
            with contextlib.suppress(OperationalError, InterfaceError):
                conn.close()


def _promote(conn: Connection, held: HeldClaim) -> int | None:
    claim = held.claim
    params = {"id": claim.task_id, "attempt": claim.attempt, "ttl": held.ttl,
              "held_at": held.held_at, "owner": held.owner}  # fmt: skip
    row = execute(conn, PROMOTE_HELD, params).first()
    return None if row is None else int(row.claim_token)


def _end(commit: Callable[[], None]) -> None:
    try:
        commit()
    except (OperationalError, InterfaceError) as error:
        raise JournalUnavailable(f"Postgres unavailable: {error.orig or error}") from error


def hold_task(db: Database, params: dict[str, Any], ttl: float) -> tuple[HeldClaim, Record] | None:
    """Hold the attempt ``params`` name, with its row; None when it is not there to
    hold (or another delivery holds it)."""
    conn = db.engine.connect()
    try:
        tx = conn.begin()
        params = params | {"idle_ms": str(max(int(ttl * 1000), 1000)), "lock_class": _LOCK_CLASS,
                           "lock_key": lock_key(params["id"])}  # fmt: skip
        row = execute(conn, HOLD_TASK, params).first()
    except BaseException:
        conn.close()
        raise
    if row is None:
        conn.close()  # nothing was written: the rollback is the refusal
        return None
    held = HeldClaim(db, conn, tx, claimed_from(row, 0), row.held_at, params["owner"], ttl)
    return held, row


def claimed_from(row: Record, token: int) -> ClaimedTask:
    return ClaimedTask(
        task_id=str(row.id), run_id=str(row.run_id), command_id=row.command_id,
        activity=row.activity, attempt=int(row.attempt), claim_token=token,
        args=list(row.args), kwargs=dict(row.kwargs), timeout=float(row.timeout),
        kind=row.kind, idempotency_key=row.idempotency_key, queue=row.queue,
        waited=max(float(row.waited), 0.0),
    )  # fmt: skip
