"""Activity task operations: claim, complete, fail, and the expiry of dead claims
(the rows each writes are in ``settling.py``).

A Celery message names (task id, attempt). Claiming it is a compare-and-swap on
that exact pair, so a duplicate or stale delivery claims nothing. Completion and
failure are then fenced by (task id, attempt, claim token) and append their event
under the run-row lock.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from ..errors import ClaimLost
from . import task_queries as TQ
from .audit import Actor
from .db import Database, Record, execute
from .eager import Decide, continue_eagerly
from .held import HeldClaim, hold_task, lock_params
from .history import HistoryCache
from .records import (
    DEFAULT_SCOPE,
    ClaimedTask,
    InlineOffer,
    LostAttempt,
    Settled,
    TaskMessage,
    TaskStatus,
)
from .rows import ACTIVE, dumps, lock_active_run, lock_run, mark_wake
from .settling import (
    AttemptError,
    Failure,
    complete_live_claim,
    complete_locked,
    completed_event,
    completion_row,
    expiry_error,
    fail_locked,
    lock_claimed,
    refusal,
    timeout_error,
)


class TaskStore:
    def __init__(
        self,
        db: Database,
        claim_ttl: float = 30.0,
        histories: HistoryCache | None = None,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        self.db = db
        self.claim_ttl = claim_ttl
        self.histories = histories or HistoryCache()
        self.scope = scope
        """Only attempts of runs in this scope are claimed here."""

    def claim(
        self, task_id: str, attempt: int, activity: str, owner: str | None = None
    ) -> ClaimedTask | str:
        """Claim one attempt, or return why the message must be ignored; ``owner``
        (worker host and pid) is kept with the claim for operators."""
        params = {"id": task_id, "attempt": attempt, "activity": activity, "ttl": self.claim_ttl,
                  "owner": owner, "scope": self.scope, **lock_params(task_id)}  # fmt: skip
        with self.db.engine.begin() as conn:
            row = execute(conn, TQ.CLAIM_TASK, params).first()
            if row is None:
                return refusal(conn, task_id, attempt, activity, self.scope)
        return ClaimedTask(
            task_id=str(row.id),
            run_id=str(row.run_id),
            command_id=row.command_id,
            activity=row.activity,
            attempt=int(row.attempt),
            claim_token=int(row.claim_token),
            args=list(row.args),
            kwargs=dict(row.kwargs),
            timeout=float(row.timeout),
            kind=row.kind,
            idempotency_key=row.idempotency_key,
            queue=row.queue,
            waited=max(float(row.waited), 0.0),
        )

    def hold(
        self, task_id: str, attempt: int, activity: str, owner: str | None = None
    ) -> HeldClaim | ClaimedTask | str:
        """Claim one attempt in a transaction left open to settle it in (see
        ``held``), or return why the message must be ignored.

        An attempt published more than once (lost, or stuck behind a backlog) is
        claimed durably at once, as is one with an idempotency key: a body that
        kills its worker must count as an attempt, and a keyed result is settled
        under the task lock.
        """
        params = {"id": task_id, "attempt": attempt, "activity": activity,
                  "owner": owner, "scope": self.scope}  # fmt: skip
        found = hold_task(self.db, params, self.claim_ttl)
        if found is None:
            with self.db.engine.begin() as conn:
                return refusal(conn, task_id, attempt, activity, self.scope, held=True)
        held, row = found
        if row.idempotency_key is None and int(row.publish_count) <= 1:
            return held
        claim = held.promote()
        return claim if claim is not None else f"task {task_id} attempt {attempt} was taken"

    def stored_result(self, claim: ClaimedTask) -> tuple[bool, Any]:
        """(found, result) of an earlier run's attempt with the same idempotency key."""
        if claim.idempotency_key is None:
            return False, None
        params = {"activity": claim.activity, "key": claim.idempotency_key}
        with self.db.engine.connect() as conn:
            row = execute(conn, TQ.STORED_RESULT, params).first()
        return (True, row.result) if row is not None else (False, None)

    def retry_now(self, run_id: str, who: Actor) -> list[TaskMessage]:
        """Attempts of the run waiting out a backoff, made due now (to publish);
        audited in the same transaction, with the activities it made due."""
        with self.db.engine.begin() as conn:
            lock_run(conn, run_id)
            rows = execute(conn, TQ.RETRY_NOW, {"run_id": run_id}).all()
            who.record(conn, run_id, "retry_activity", {"activities": [r.activity for r in rows]})
        return [TaskMessage(str(r.id), str(r.run_id), r.activity, int(r.attempt), r.queue,
                            r.priority, float(r.timeout)) for r in rows]  # fmt: skip

    def of_run(self, run_id: str) -> list[TaskStatus]:
        with self.db.engine.connect() as conn:
            rows = execute(conn, TQ.RUN_TASKS, {"run_id": run_id}).all()
        return [
            TaskStatus(str(r.id), r.command_id, r.activity, r.kind, int(r.attempt), r.state,
                       r.heartbeat_at, r.heartbeat_details)
            for r in rows
        ]  # fmt: skip

    def renew(self, claim: ClaimedTask, details: Any = None, beat: bool = False) -> str | None:
        """Extend a live claim (a heartbeat when ``beat``); returns why not, or None.

        The answer is "cancelled" when the run or the task was cancelled (for a
        heartbeat, also when the run was asked to cancel: the claim stays good, so
        the body may still finish), and "lost" when the claim expired or passed to
        another attempt.
        """
        params = {"id": claim.task_id, "attempt": claim.attempt, "token": claim.claim_token,
                  "ttl": self.claim_ttl, "beat": beat, "details": dumps(details)}  # fmt: skip
        with self.db.engine.begin() as conn:
            renewed = execute(conn, TQ.RENEW_CLAIM, params).first()
            if renewed is not None:
                return "cancelled" if beat and renewed.cancelling else None
            row = execute(conn, TQ.TASK_AND_RUN_STATE, {"id": claim.task_id}).first()
        if row is None or row.task_state == "cancelled" or row.run_state not in ACTIVE:
            return "cancelled"
        return "lost"

    def complete(
        self,
        claim: ClaimedTask,
        result: Any,
        decide: Decide | None = None,
        inline: InlineOffer | None = None,
        held: HeldClaim | None = None,
    ) -> Settled:
        """Journal the result if the claim still holds (``held``: the claim held in
        an open transaction, see ``held``; ``claim`` is then its ``claim``).

        A claim that outlived its attempt's timeout is dead: the attempt is settled
        as timed out instead (``accepted=False``), as upkeep would have done. A claim
        whose renewals merely lapsed (say, Postgres was briefly unreachable) still
        completes, since nobody took the task over: upkeep would have moved it to
        the next attempt, and the token check would then reject this write. With
        ``decide``, the run's next decisions are committed in the same transaction
        when nothing else is replaying it (eager continuation), and ``inline`` lets
        one of the activities they schedule be claimed for this worker at once.
        """
        if held is not None:
            return self._complete_held(held, result, decide, inline)
        along = self.histories.along(claim.run_id, decide is not None)
        with self.db.transaction() as conn:
            run, event = complete_live_claim(conn, claim, result, along)
            if event is None:  # not the plain case: look closer, under the task lock
                task = lock_claimed(conn, claim)
                if not task.in_time:
                    error = timeout_error(task)
                    failed = fail_locked(conn, run, task, claim.task_id, error, 0.5)
                    timed_out = self._settle_failure(conn, run, failed, None)
                    return Settled(timed_out.retry, timed_out.run_to_wake, accepted=False)
                event = complete_locked(conn, run, claim, result)
            elif run.absorbed:  # the run's gather still waits on others: no replay yet
                return Settled(None, None)
            self.histories.take_along(claim.run_id, along["known"], run)
            settled = self._wake_or_continue(conn, run, event, decide, inline)
        self._remember(claim.run_id, settled)
        return settled

    def _complete_held(
        self, held: HeldClaim, result: Any, decide: Decide | None, inline: InlineOffer | None
    ) -> Settled:
        """Complete in the holding transaction: one commit. Anything but the plain
        case (the claim no longer held, out of time, an error) retakes the claim
        durably and completes as an ordinary claim would."""
        settled = held.settle(lambda conn: self._settle_held(conn, held, result, decide, inline))
        if settled is not None:
            self._remember(held.claim.run_id, settled)
            return settled
        claim = held.promote()
        if claim is None:
            raise ClaimLost(f"task {held.claim.task_id} attempt {held.claim.attempt}: "
                            "the claim was lost before it was settled")  # fmt: skip
        return self.complete(claim, result, decide, inline)

    def _settle_held(
        self,
        conn: Connection,
        held: HeldClaim,
        result: Any,
        decide: Decide | None,
        inline: InlineOffer | None,
    ) -> Settled | None:
        claim = held.claim
        along = self.histories.along(claim.run_id, decide is not None)
        params = completion_row(claim, 0, result) | along | {
            "id": claim.task_id,
            "attempt": claim.attempt,
            "owner": held.owner,
            "held_at": held.held_at,
        }
        row = execute(conn, TQ.HELD_COMPLETE, params).first()
        event = completed_event(row) if row is not None else None
        if row is None or event is None:
            return None
        if row.absorbed:  # the run's gather still waits on others: no replay yet
            return Settled(None, None)
        self.histories.take_along(claim.run_id, along["known"], row)
        return self._wake_or_continue(conn, row, event, decide, inline)

    def _wake_or_continue(
        self,
        conn: Connection,
        run: Record,
        event: Event,
        decide: Decide | None,
        inline: InlineOffer | None = None,
    ) -> Settled:
        """New input for the run: replay it here and now, or leave the wake marker."""
        seq = event.seq
        commit = (
            continue_eagerly(conn, run, seq, decide, self.histories, [event], inline)
            if decide
            else None
        )
        if commit is not None:
            return Settled(None, None, commit=commit)
        mark_wake(conn, str(run.id), seq)
        return Settled(None, str(run.id))

    def _remember(self, run_id: str, settled: Settled) -> None:
        """After commit only: cache the journal the eager continuation wrote."""
        if settled.commit is not None and settled.commit.history is not None:
            self.histories.remember(run_id, settled.commit.history)

    def _settle_failure(
        self,
        conn: Connection,
        run: Record,
        failed: Failure,
        decide: Decide | None,
        inline: InlineOffer | None = None,
    ) -> Settled:
        if failed.event is None:
            return Settled(failed.retry, None)
        return self._wake_or_continue(conn, run, failed.event, decide, inline)

    def fail(
        self,
        claim: ClaimedTask,
        error: AttemptError,
        unit_random: float,
        decide: Decide | None = None,
        inline: InlineOffer | None = None,
    ) -> Settled:
        """Schedule the next attempt, or journal ``activity_failed`` when none is left.

        Only the claim holder may fail its attempt; it may do so even just past
        expiry, since an expired claim counts as a failed attempt anyway.
        """
        with self.db.transaction() as conn:
            run = lock_active_run(conn, claim.run_id)
            task = lock_claimed(conn, claim)
            failed = fail_locked(conn, run, task, claim.task_id, error, unit_random)
            settled = self._settle_failure(conn, run, failed, decide, inline)
        self._remember(claim.run_id, settled)
        return settled

    def expire(self, task_id: str, unit_random: float) -> Settled | None:
        """Upkeep: a claim ran past its timeout (the worker died or hung)."""
        with self.db.engine.begin() as conn:
            row = execute(conn, TQ.TASK_RUN, {"id": task_id}).first()
            if row is None:
                return None
            run = lock_active_run(conn, str(row.run_id))
            task = execute(conn, TQ.LOCK_TASK, {"id": task_id, "grace": self.claim_ttl}).one()
            if task.state != "claimed" or not (task.abandoned or not task.in_time):
                return None
            error = expiry_error(task)
            failed = fail_locked(conn, run, task, task_id, error, unit_random)
            settled = self._settle_failure(conn, run, failed, None)
        lost = LostAttempt(task_id, str(task.run_id), task.activity, int(task.attempt),
                           error.error_type, error.message)  # fmt: skip
        return replace(settled, lost=lost)
