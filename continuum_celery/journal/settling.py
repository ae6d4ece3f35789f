"""Settling an attempt under the run-row lock: the rows a completion or a failure
writes, why a claim died, and why a message was refused.

Kept apart from ``tasks.py`` (which decides when to settle: claims, held claims,
expiry) so that each reads in one sitting; nothing here opens a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from ..engine.retry import RetryPolicy, next_delay
from ..errors import ClaimLost
from ..payloads import storable
from . import queries as Q
from . import task_queries as TQ
from .db import Record, execute
from .records import ClaimedTask, TaskMessage
from .rows import ACTIVE, append_event, dumps, lock_active_run, to_event

SHORT_DELAY = 10.0
"""Retries due within this many seconds ride a Celery countdown; later ones are
published by upkeep when due (a long countdown would sit unacked in a worker)."""


@dataclass(frozen=True)
class AttemptError:
    """How an attempt failed, as journaled: the original type name and message."""

    error_type: str
    message: str
    retryable: bool = True
    outcome: str = "failed"
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """What the body raised, when it ran here: reported to the transport, never journaled."""

    def __post_init__(self) -> None:
        """Any code may raise any text: NUL and surrogates are escaped, not refused."""
        object.__setattr__(self, "error_type", storable(self.error_type))
        object.__setattr__(self, "message", storable(self.message))

    def text(self) -> str:
        return f"{self.error_type}: {self.message}"


def completion_row(claim: ClaimedTask, seq: int, result: Any) -> dict[str, Any]:
    data = {"activity": claim.activity, "attempt": claim.attempt, "result": result}
    return {"run_id": claim.run_id, "seq": seq, "type": f"{claim.kind}_completed",
            "command_id": claim.command_id, "data": dumps(data)}  # fmt: skip


def complete_live_claim(
    conn: Connection, claim: ClaimedTask, result: Any, along: dict[str, Any]
) -> tuple[Record, Event | None]:
    """Lock the run and, in the common case, complete in the same round trip.

    The common case is a live claim, in time, with no idempotency key. Otherwise
    the event is None and nothing was written: the caller looks closer. ``along``:
    what the history cache asks the statement to bring (``HistoryCache.along``).
    """
    if claim.idempotency_key is not None:
        return lock_active_run(conn, claim.run_id), None
    params = completion_row(claim, 0, result) | along
    params |= {"id": claim.task_id, "attempt": claim.attempt, "token": claim.claim_token}
    row = execute(conn, TQ.COMPLETE_CLAIMED_TASK, params).first()
    if row is None or row.state not in ACTIVE:
        return lock_active_run(conn, claim.run_id), None  # raises RunNotFound / RunNotActive
    return row, completed_event(row)


def completed_event(row: Record) -> Event | None:
    """The event a completing statement appended (its ``event_*`` columns), as
    stored; None when it wrote nothing."""
    if row.event_seq is None:
        return None
    return Event(row.event_seq, row.event_type, row.event_command_id, row.event_data or {},
                 row.event_created_at)  # fmt: skip


def complete_locked(conn: Connection, run: Record, claim: ClaimedTask, result: Any) -> Event:
    """Completion under the task lock, the claim checked: the general case."""
    result = keep_one_result(conn, claim, result)
    stored = execute(
        conn, Q.INSERT_EVENT, completion_row(claim, int(run.last_seq) + 1, result)
    ).one()
    execute(conn, TQ.FINISH_TASK, {"id": claim.task_id, "state": "completed"})
    finish_attempt(conn, claim.task_id, claim.attempt, "completed", None)
    return to_event(stored)


def keep_one_result(conn: Connection, claim: ClaimedTask, result: Any) -> Any:
    """With an idempotency key, the first committed result wins for every run."""
    if claim.idempotency_key is None:
        return result
    params = {"activity": claim.activity, "key": claim.idempotency_key,
              "result": dumps(result), "run_id": claim.run_id}  # fmt: skip
    if execute(conn, TQ.STORE_RESULT, params).first() is not None:
        return result
    return execute(conn, TQ.STORED_RESULT, params).one().result


def expiry_error(task: Record) -> AttemptError:
    """Why a claim died: its attempt ran out of time, or its worker stopped renewing."""
    if task.in_time:
        message = f"attempt {task.attempt}: the worker stopped renewing its claim (it died or hung)"
        return AttemptError("WorkerLost", message, retryable=True, outcome="lost")
    return timeout_error(task)


def timeout_error(task: Record) -> AttemptError:
    message = f"attempt {task.attempt} did not finish within its {task.timeout:g}s timeout"
    return AttemptError("TimeoutError", message, retryable=True, outcome="timed_out")


def lock_claimed(conn: Connection, claim: ClaimedTask) -> Record:
    task = execute(conn, TQ.LOCK_TASK, {"id": claim.task_id, "grace": 0.0}).first()
    if (
        task is None
        or task.state != "claimed"
        or task.attempt != claim.attempt
        or task.claim_token != claim.claim_token
    ):
        raise ClaimLost(
            f"task {claim.task_id} attempt {claim.attempt}: claim token {claim.claim_token} "
            "is no longer valid"
        )
    return task


@dataclass(frozen=True)
class Failure:
    """A failed attempt: either a retry to publish, or the ``activity_failed`` event."""

    retry: TaskMessage | None
    event: Event | None


def fail_locked(
    conn: Connection,
    run: Record,
    task: Record,
    task_id: str,
    error: AttemptError,
    unit_random: float,
) -> Failure:
    finish_attempt(conn, task_id, int(task.attempt), error.outcome, error.text())
    policy = RetryPolicy.from_dict(task.retry)
    delay = next_delay(policy, int(task.attempt), unit_random) if error.retryable else None
    if delay is not None:
        publish_now = delay <= SHORT_DELAY
        execute(conn, TQ.RETRY_TASK, {"id": task_id, "delay": delay, "publish_now": publish_now})
        retry = (
            TaskMessage(
                task_id,
                str(task.run_id),
                task.activity,
                int(task.attempt) + 1,
                task.queue,
                task.priority,
                float(task.timeout),
                countdown=delay,
            )
            if publish_now
            else None
        )
        return Failure(retry, None)
    seq = int(run.last_seq) + 1
    data = {
        "activity": task.activity,
        "attempt": int(task.attempt),
        "error_type": error.error_type,
        "message": error.message,
    }
    event = append_event(conn, str(task.run_id), seq, f"{task.kind}_failed", task.command_id, data)
    execute(conn, TQ.FINISH_TASK, {"id": task_id, "state": "failed"})
    return Failure(None, event)


def finish_attempt(
    conn: Connection, task_id: str, attempt: int, outcome: str, error: str | None
) -> None:
    execute(
        conn,
        TQ.FINISH_ATTEMPT,
        {"id": task_id, "attempt": attempt, "outcome": outcome, "error": error},
    )


def refusal(
    conn: Connection, task_id: str, attempt: int, activity: str, scope: str, held: bool = False
) -> str:
    row = execute(conn, TQ.DESCRIBE_TASK, {"id": task_id}).first()
    if row is None:
        return f"no task {task_id} exists (forged or garbled message)"
    if row.scope != scope:
        return f"task {task_id} belongs to scope {row.scope!r}, not {scope!r} (another app's)"
    if row.activity != activity:
        return f"task {task_id} belongs to {row.activity}, not {activity} (forged message)"
    if row.attempt != attempt:
        return f"task {task_id} is at attempt {row.attempt}, message named {attempt} (stale)"
    if held and row.state == "ready":  # a delivery holding it in its transaction
        return f"task {task_id} attempt {attempt} is held by another delivery or not due yet"
    return f"task {task_id} attempt {attempt} is {row.state} (duplicate delivery or not due yet)"
