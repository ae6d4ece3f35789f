"""Turning one replay's commands into journal rows: events plus their side rows.

Split from ``decisions`` (which fences the transaction, and ends or releases the
run) because this is the part that grows with every new command: each command
type writes its event and its own rows (task, timer, wait, child run) here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..engine.commands import Command
from ..engine.events import Event
from . import queries as Q
from . import task_queries as TQ
from .batches import schedule_tasks
from .db import Record, execute
from .lifecycle import request_cancel
from .records import ClaimedTask, InlineOffer, Lease, TaskMessage
from .rows import append_event, dumps, lock_run, to_event

SCHEDULED = {"activity_scheduled": "activity", "compensation_scheduled": "compensation"}
"""Command types that schedule a task, and the task kind each one writes."""


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
