"""Writing one replay's decisions: events plus their side rows, in one transaction.

The transaction is fenced by the run lease. A decision that ends the run locks
the parent first (ancestors before descendants, as everywhere), so the parent
can be told in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..engine.commands import (
    Blocked,
    CancelledOutcome,
    Command,
    Completed,
    Continued,
    Decision,
    Failed,
    Suspended,
)
from ..engine.events import Event
from ..errors import LeaseLost
from . import queries as Q
from . import task_queries as TQ
from .batches import schedule_tasks
from .db import Record, execute
from .lifecycle import end_run, finish, request_cancel
from .records import ClaimedTask, CommitResult, InlineOffer, Lease, RunEnding, TaskMessage
from .rows import append_event, dumps, lock_active_run, lock_run, to_event


def commit(
    conn: Connection,
    lease: Lease,
    decision: Decision,
    lease_ttl: float,
    inline: InlineOffer | None = None,
) -> CommitResult:
    """Write one replay's decisions, fenced by the lease token.

    If input landed after the history was read (``last_seq`` moved), or a buffered
    signal was consumed here, the lease is kept and ``again`` asks the caller to
    replay once more: no wakeup can be lost in between.
    """
    parent = lock_run(conn, lease.parent_run_id) if ends(decision) and lease.parent_run_id else None
    run = _lock_leased(conn, lease)
    return apply(conn, lease, run, int(run.last_seq), parent, decision, lease_ttl, inline)


def ends(decision: Decision) -> bool:
    return isinstance(decision.outcome, Completed | Failed | Continued | CancelledOutcome)


def awaiting(decision: Decision) -> int | None:
    """Completions the code needs before it can move, when more than one (a gather).

    Stored on the run by a commit that saw the whole history, so that each of a
    gather's completions but the last lands without a replay (see
    ``COMPLETE_CLAIMED_TASK``); None means "replay on any input".
    """
    outcome = decision.outcome
    if isinstance(outcome, Suspended) and outcome.needs > 1:
        return outcome.needs
    return None


def apply(
    conn: Connection,
    lease: Lease,
    run: Record,
    last_seq: int,
    parent: Record | None,
    decision: Decision,
    lease_ttl: float | None,
    inline: InlineOffer | None = None,
) -> CommitResult:
    """Write a decision for a run whose row this transaction holds locked.

    ``lease_ttl`` is None when the writer holds no lease, only the row lock (the
    eager path): then a decision that needs another replay leaves the wake
    marker set instead of keeping a lease.
    """
    if isinstance(decision.outcome, Blocked):
        return _block(conn, run, last_seq, decision.outcome.error)
    # An activity a finishing run leaves behind is never claimed here: it may not run.
    offer = None if ends(decision) else inline
    writer = DecisionWriter(conn, lease, last_seq, run.db_now, offer)
    writer.awaiting = awaiting(decision)
    _write_commands(writer, decision, last_seq == lease.last_seq)
    if ends(decision):
        return _end_run(conn, writer, run, parent, decision.outcome)
    return _go_on(conn, writer, lease, last_seq, lease_ttl)


def _block(conn: Connection, run: Record, last_seq: int, error: str) -> CommitResult:
    """Hold the run (drift, or its code is missing here): nothing is written to its
    history, and upkeep tries it again with backoff, as a deploy may fix it."""
    execute(conn, Q.BLOCK_RUN, {"id": str(run.id), "error": error, "last_seq": last_seq})
    return CommitResult([], False, False, ending=_ending(run, "blocked", error))


def _ending(run: Record, state: str, error: str | None) -> RunEnding:
    return RunEnding(str(run.id), str(run.workflow), state, error)


def _write_commands(writer: DecisionWriter, decision: Decision, unchanged: bool) -> None:
    """The common decision ends by scheduling an activity and then waits: its last
    write can also release the lease, saving a round trip. Activities scheduled one
    after another (a fan-out) are written together, in one statement."""
    commands, position = decision.commands, 0
    while position < len(commands):
        span = scheduled_span(commands, position)
        end = position + max(span, 1)
        writer.release_with_write = (
            end == len(commands)
            and isinstance(decision.outcome, Suspended)
            and unchanged
            and not writer.consumed_signal
        )
        if span > 1:
            writer.schedule_many(commands[position:end])
        else:
            writer.write(commands[position])
        position = end


SCHEDULED = {"activity_scheduled": "activity", "compensation_scheduled": "compensation"}


def scheduled_span(commands: list[Command], start: int) -> int:
    """How many commands from ``start`` on schedule activities (or compensations)."""
    end = start
    while end < len(commands) and commands[end].type in SCHEDULED:
        end += 1
    return end - start


def _end_run(
    conn: Connection, writer: DecisionWriter, run: Record, parent: Record | None, outcome: Any
) -> CommitResult:
    """End the run through ``end_run``, continued too: an activity it started and
    never awaited must not outlive it."""
    if isinstance(outcome, Continued):
        writer.spawn_successor(run)
        next_id = outcome.next_run_id
        end_run(conn, writer.run_id, ("continued", {"continued_to": next_id}, None), writer.seq,
                next_run_id=next_id)  # fmt: skip
        return CommitResult(writer.tasks, False, True, writer.wake)
    ending, traceback = _ending_of(outcome)
    wake = finish(conn, parent, run, ending, writer.seq, traceback)
    return CommitResult(writer.tasks, False, True, writer.wake + wake,
                        ending=_ending(run, ending[0], ending[2]))  # fmt: skip


def _ending_of(outcome: Any) -> tuple[tuple[str, Any, str | None], str | None]:
    """(state, result, error) and the traceback a finished run is recorded with."""
    if isinstance(outcome, Completed):
        return ("completed", outcome.result, None), None
    if isinstance(outcome, CancelledOutcome):
        why = f"cancelled: {outcome.reason}" if outcome.reason else "cancelled"
        return ("cancelled", None, why), None
    return ("failed", None, outcome.error), outcome.traceback


def _go_on(
    conn: Connection, writer: DecisionWriter, lease: Lease, last_seq: int, lease_ttl: float | None
) -> CommitResult:
    """The run waits: release it, or keep it for another replay if input landed."""
    params: dict[str, Any] = {"id": lease.run_id, "last_seq": writer.seq}
    again = writer.consumed_signal or last_seq != lease.last_seq
    if again and lease_ttl is None:
        execute(conn, Q.MARK_WAKE, params)
        return CommitResult(writer.tasks, False, False, [*writer.wake, lease.run_id],
                            writer.inline_claim)  # fmt: skip
    if again:
        execute(conn, Q.KEEP_LEASE, params | {"ttl": lease_ttl})
    elif not writer.released:
        execute(conn, Q.RELEASE_LEASE, params | {"awaiting": writer.awaiting})
    history = [*lease.history, *writer.events]
    return CommitResult(writer.tasks, again, False, writer.wake, writer.inline_claim, history)


def _lock_leased(conn: Connection, lease: Lease) -> Record:
    run = lock_active_run(conn, lease.run_id)
    if run.lease_owner is None or run.lease_token != lease.token or not run.live:
        raise LeaseLost(
            f"run {lease.run_id}: lease token {lease.token} is no longer valid "
            f"(current token {run.lease_token}, live={bool(run.live)})"
        )
    return run


class DecisionWriter:
    """Turns commands into events plus their side rows, inside one transaction."""

    def __init__(
        self,
        conn: Connection,
        lease: Lease,
        last_seq: int,
        db_now: datetime,
        inline: InlineOffer | None = None,
    ) -> None:
        self.conn = conn
        self.inline = inline
        self.inline_claim: ClaimedTask | None = None
        self.claiming = False
        """An activity of this decision is (being) claimed inline: no other may be."""
        self.release_with_write = False
        """Set for the decision's last command when its write may release the lease."""
        self.awaiting: int | None = None
        """What releasing the run stores as its completions still needed."""
        self.released = False
        self.lease = lease
        self.run_id = lease.run_id
        self.seq = last_seq
        self.db_now = db_now
        self.tasks: list[TaskMessage] = []
        self.wake: list[str] = []
        self.consumed_signal = False
        self.successor: dict[str, Any] = {}
        self.attributes = dict(lease.attributes)
        """The run's attributes as of this writer's last upsert; children inherit them."""
        self.events: list[Event] = []
        """What this writer appended, exactly as stored."""

    def append(self, type_: str, command_id: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append(append_event(self.conn, self.run_id, self.seq, type_, command_id, data))

    def write(self, command: Command) -> None:
        handler = getattr(self, f"_write_{command.type}", None)
        if handler is None:
            self.append(command.type, command.command_id, command.data)
        else:
            handler(command)

    def _write_compensation_scheduled(self, command: Command) -> None:
        self._write_activity_scheduled(command, kind="compensation")

    def _write_activity_scheduled(self, command: Command, kind: str = "activity") -> None:
        row, message = self._task_row(command, kind)
        stored = execute(self.conn, TQ.SCHEDULE_TASK, row).one()
        self._scheduled(row, message, command, stored)

    def schedule_many(self, commands: list[Command]) -> None:
        """Activities scheduled back to back (a fan-out), written in one statement."""
        rows = [self._task_row(command, SCHEDULED[command.type]) for command in commands]
        stored = schedule_tasks(self.conn, [row for row, _ in rows])
        for (row, message), command, event in zip(rows, commands, stored, strict=True):
            self._scheduled(row, message, command, event)

    def _task_row(self, command: Command, kind: str) -> tuple[dict[str, Any], TaskMessage]:
        """SCHEDULE_TASK's parameters for one activity, and its message; claimed at
        once when this is the first one the inline offer wants."""
        data = command.data
        task_id = str(uuid.uuid4())
        self.seq += 1
        row = {
            "seq": self.seq,
            "type": command.type,
            "data": dumps(data | {"task_id": task_id}),
            "id": task_id,
            "run_id": self.run_id,
            "command_id": command.command_id,
            "activity": data["activity"],
            "args": dumps(data["args"]),
            "kwargs": dumps(data["kwargs"]),
            "queue": data.get("queue"),
            "priority": data.get("priority"),
            "timeout": float(data["timeout"]),
            "retry": dumps(data["retry"]),
            "kind": kind,
            "idempotency_key": data.get("idempotency_key"),
        }
        message = TaskMessage(task_id, self.run_id, data["activity"], 1, data.get("queue"),
                              data.get("priority"), float(data["timeout"]))  # fmt: skip
        offer = self.inline
        claim = offer is not None and not self.claiming and offer.wants(message)
        self.claiming = self.claiming or claim
        row |= {"claim": claim, "ttl": offer.claim_ttl if offer else None,
                "owner": offer.owner if offer else None,
                "release": self.release_with_write, "awaiting": self.awaiting}  # fmt: skip
        return row, message

    def _scheduled(
        self, row: dict[str, Any], message: TaskMessage, command: Command, stored: Record
    ) -> None:
        """After the write: the event as stored, and the task to publish or run here."""
        self.events.append(to_event(stored))
        self.released = self.release_with_write
        if row["claim"]:
            self.inline_claim = self._claimed(row, command.command_id, command.data,
                                              stored.claim_token)  # fmt: skip
        else:
            self.tasks.append(message)

    def _claimed(
        self, row: dict[str, Any], command_id: str, data: dict[str, Any], token: int
    ) -> ClaimedTask:
        return ClaimedTask(
            task_id=row["id"],
            run_id=self.run_id,
            command_id=command_id,
            activity=row["activity"],
            attempt=1,
            claim_token=int(token),
            args=list(data["args"]),
            kwargs=dict(data["kwargs"]),
            timeout=row["timeout"],
            kind=row["kind"],
            idempotency_key=row["idempotency_key"],
            queue=row["queue"],
        )

    def _fires_at(self, seconds: float | None) -> datetime | None:
        return None if seconds is None else self.db_now + timedelta(seconds=seconds)

    def _write_timer_started(self, command: Command) -> None:
        fires_at = self._fires_at(command.data["seconds"])
        stamped = command.data | {"fires_at": fires_at.isoformat() if fires_at else None}
        self.append(command.type, command.command_id, stamped)
        self._insert_wait(command.command_id, "timer", None, fires_at)

    def _write_signal_awaited(self, command: Command) -> None:
        name = command.data["name"]
        fires_at = self._fires_at(command.data.get("timeout"))
        stamped = command.data | ({"fires_at": fires_at.isoformat()} if fires_at else {})
        self.append(command.type, command.command_id, stamped)
        self._insert_wait(command.command_id, "signal", name, fires_at)
        buffered = execute(
            self.conn, Q.TAKE_BUFFERED_SIGNAL, {"run_id": self.run_id, "name": name}
        ).first()
        if buffered is not None:
            execute(
                self.conn, Q.RESOLVE_WAIT, {"run_id": self.run_id, "command_id": command.command_id}
            )
            data = {"name": name, "payload": buffered.payload}
            self.append("signal_received", command.command_id, data)
            self.consumed_signal = True

    def _insert_wait(
        self, command_id: str, kind: str, name: str | None, fires_at: datetime | None
    ) -> None:
        execute(
            self.conn,
            Q.INSERT_WAIT,
            {
                "run_id": self.run_id,
                "command_id": command_id,
                "kind": kind,
                "name": name,
                "fires_at": fires_at,
            },
        )

    def _write_child_started(self, command: Command) -> None:
        data = command.data
        self.append(command.type, command.command_id, data)
        self._spawn(data, parent=(self.run_id, command.command_id, self.lease.depth + 1))
        self.wake.append(data["child_run_id"])

    def _write_attributes_upserted(self, command: Command) -> None:
        """The event and the run row's attributes change together, or not at all."""
        self.append(command.type, command.command_id, command.data)
        params = {"id": self.run_id, "set": dumps(command.data["set"]),
                  "unset": dumps(command.data["unset"])}  # fmt: skip
        self.attributes = dict(execute(self.conn, Q.UPSERT_ATTRIBUTES, params).one().attributes)

    def _write_run_continued_as_new(self, command: Command) -> None:
        data = command.data
        self.append(command.type, command.command_id, data)
        self.successor = data

    def spawn_successor(self, run: Record) -> None:
        """The continue-as-new successor: same workflow and lineage, empty history.

        Signals not yet consumed move with it, so senders never lose one, and so
        does a cancel request the replay that continued did not see.
        """
        event = self.successor
        next_id = event["next_run_id"]
        data = {"workflow": self.lease.workflow, "child_run_id": next_id,
                "version": event.get("version", self.lease.version),
                "args": event["args"], "kwargs": event["kwargs"]}  # fmt: skip
        parent_id = str(run.parent_run_id) if run.parent_run_id else None
        self._spawn(
            data,
            parent=(parent_id, run.parent_command_id, int(run.depth)),
            continued_from=self.run_id,
            correlation_id=str(run.correlation_id or self.run_id),
        )
        execute(self.conn, Q.MOVE_SIGNALS, {"id": self.run_id, "next_run_id": next_id})
        if run.cancelling:  # asked to cancel after this replay read its history
            by = f"continue-as-new of run {self.run_id}"
            request_cancel(self.conn, lock_run(self.conn, next_id), run.cancel_reason, by)
        self.wake.append(next_id)

    def _spawn(
        self,
        data: dict[str, Any],
        parent: tuple[str | None, str | None, int],
        continued_from: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        parent_run_id, parent_command_id, depth = parent
        execute(
            self.conn,
            Q.INSERT_SPAWNED_RUN,
            {
                "id": data["child_run_id"],
                "workflow": data["workflow"],
                "version": int(data.get("version", 1)),  # 0: pinned at its first lease
                "namespace": self.lease.namespace,
                "args": dumps(data["args"]),
                "kwargs": dumps(data["kwargs"]),
                "attributes": dumps(self.attributes),
                "parent_run_id": parent_run_id,
                "parent_command_id": parent_command_id,
                "depth": depth,
                "continued_from": continued_from,
                "correlation_id": correlation_id,
                "from_run": self.run_id,  # the child or successor joins its scope
            },
        )
