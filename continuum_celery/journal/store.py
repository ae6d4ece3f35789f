"""Run-level journal operations, each one fenced transaction.

A write locks the run row (``FOR UPDATE``), checks the caller's token against it,
appends events at ``last_seq + 1 ...`` and applies the state change, all in one
transaction. If any check fails the transaction rolls back and a typed
:class:`~continuum_celery.errors.FencingError` is raised: nothing is half-written.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from ..engine.commands import Command, Completed, Decision, Failed
from ..engine.events import Event
from ..errors import LeaseLost, RunFinished, RunNotActive, RunNotFound
from . import queries as Q
from .db import Database
from .records import CommitResult, Lease, NewRun, RunRecord, TaskMessage


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def append_event(
    conn: Connection,
    run_id: str,
    seq: int,
    type_: str,
    command_id: str | None,
    data: dict[str, Any],
) -> None:
    conn.execute(
        Q.INSERT_EVENT,
        {
            "run_id": run_id,
            "seq": seq,
            "type": type_,
            "command_id": command_id,
            "data": dumps(data),
        },
    )


def lock_run(conn: Connection, run_id: str) -> Row[Any]:
    row = conn.execute(Q.LOCK_RUN, {"id": run_id}).first()
    if row is None:
        raise RunNotFound(f"no run with id {run_id}")
    return row


def lock_active_run(conn: Connection, run_id: str) -> Row[Any]:
    row = lock_run(conn, run_id)
    if row.state != "running":
        raise RunNotActive(f"run {run_id} is {row.state}")
    return row


def mark_wake(conn: Connection, run_id: str, last_seq: int) -> None:
    conn.execute(Q.MARK_WAKE, {"id": run_id, "last_seq": last_seq})


def to_event(row: Row[Any]) -> Event:
    return Event(row.seq, row.type, row.command_id, row.data or {}, row.created_at)


class RunStore:
    """Starting, replay leases and decisions, signals and cancellation."""

    def __init__(self, db: Database, lease_ttl: float = 30.0) -> None:
        self.db = db
        self.lease_ttl = lease_ttl

    # --- start ------------------------------------------------------------------------

    def start_run(self, run: NewRun) -> tuple[str, bool]:
        """Insert a run ready to replay; returns (run id, created?).

        With an idempotency key, the key and the run commit together, so two
        concurrent starts with one key converge on a single run.
        """
        with self.db.engine.begin() as conn:
            if run.idempotency_key is not None:
                existing = self._claim_start_key(conn, run)
                if existing is not None:
                    return existing, False
            inserted = conn.execute(Q.INSERT_RUN, self._run_params(run)).first()
            if inserted is None:
                return self._existing_run_id(conn, run), False
        return run.run_id, True

    def _claim_start_key(self, conn: Connection, run: NewRun) -> str | None:
        params = {
            "namespace": run.namespace,
            "workflow": run.workflow,
            "key": run.idempotency_key,
            "run_id": run.run_id,
        }
        if conn.execute(Q.CLAIM_START_KEY, params).first() is not None:
            return None
        row = conn.execute(Q.GET_START_KEY, params).one()
        return str(row.run_id)

    def _existing_run_id(self, conn: Connection, run: NewRun) -> str:
        row = conn.execute(Q.GET_RUN, {"id": run.run_id}).one()
        if row.workflow != run.workflow:
            raise ValueError(f"run id {run.run_id} is already used by workflow {row.workflow!r}")
        return run.run_id

    @staticmethod
    def _run_params(run: NewRun) -> dict[str, Any]:
        return {
            "id": run.run_id,
            "workflow": run.workflow,
            "version": run.version,
            "namespace": run.namespace,
            "args": dumps(run.args),
            "kwargs": dumps(run.kwargs),
            "attributes": dumps(run.attributes),
            "key": run.idempotency_key,
            "parent_run_id": run.parent_run_id,
            "eta": run.eta,
        }

    # --- replay lease -------------------------------------------------------------

    def acquire(self, run_id: str, owner: str) -> Lease | None:
        """Lease a run that has unseen input, and load its history in the same snapshot."""
        with self.db.engine.begin() as conn:
            row = conn.execute(
                Q.ACQUIRE_LEASE, {"id": run_id, "owner": owner, "ttl": self.lease_ttl}
            ).first()
            if row is None:
                return None
            events = [
                to_event(r) for r in conn.execute(Q.LOAD_EVENTS, {"run_id": run_id, "after": 0})
            ]
        return Lease(
            run_id=run_id,
            token=int(row.lease_token),
            workflow=row.workflow,
            version=int(row.version),
            namespace=row.namespace,
            args=list(row.args),
            kwargs=dict(row.kwargs),
            attributes=dict(row.attributes),
            parent_run_id=str(row.parent_run_id) if row.parent_run_id else None,
            history=events,
        )

    def renew(self, lease: Lease) -> bool:
        """Push the lease expiry out while a long replay is still working."""
        with self.db.engine.begin() as conn:
            params = {"id": lease.run_id, "token": lease.token, "ttl": self.lease_ttl}
            return conn.execute(Q.RENEW_LEASE, params).first() is not None

    def release(self, lease: Lease) -> None:
        """Hand the run back untouched, wake marker included, for a worker that can run it."""
        with self.db.engine.begin() as conn:
            conn.execute(Q.DROP_LEASE, {"id": lease.run_id, "token": lease.token})

    def refresh(self, lease: Lease) -> None:
        """Append the events that landed since the lease's history was read."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(Q.LOAD_EVENTS, {"run_id": lease.run_id, "after": lease.last_seq})
            lease.history.extend(to_event(r) for r in rows)

    def commit_decision(self, lease: Lease, decision: Decision) -> CommitResult:
        """Write one replay's decisions, fenced by the lease token.

        If input landed after the history was read (``last_seq`` moved), or a
        buffered signal was consumed here, the lease is kept and ``again`` asks the
        caller to replay once more: no wakeup can be lost in between.
        """
        with self.db.engine.begin() as conn:
            run = self._lock_leased(conn, lease)
            writer = _DecisionWriter(conn, lease.run_id, int(run.last_seq), run.db_now)
            for command in decision.commands:
                writer.write(command)
            again = writer.consumed_signal or int(run.last_seq) != lease.last_seq
            finished = self._settle(conn, lease, decision, writer.seq, again)
        return CommitResult(writer.tasks, again and not finished, finished)

    def _lock_leased(self, conn: Connection, lease: Lease) -> Row[Any]:
        run = lock_active_run(conn, lease.run_id)
        if run.lease_owner is None or run.lease_token != lease.token or not run.live:
            raise LeaseLost(
                f"run {lease.run_id}: lease token {lease.token} is no longer valid "
                f"(current token {run.lease_token}, live={bool(run.live)})"
            )
        return run

    def _settle(
        self, conn: Connection, lease: Lease, decision: Decision, seq: int, again: bool
    ) -> bool:
        outcome = decision.outcome
        params: dict[str, Any] = {"id": lease.run_id, "last_seq": seq}
        if isinstance(outcome, Completed):
            finish = {"state": "completed", "result": dumps(outcome.result), "error": None}
        elif isinstance(outcome, Failed):
            finish = {"state": "failed", "result": None, "error": outcome.error}
        else:
            finish = None
        if finish is not None:
            conn.execute(Q.FINISH_RUN, params | finish)
            discard_pending(conn, lease.run_id)
            return True
        if again:
            conn.execute(Q.KEEP_LEASE, params | {"ttl": self.lease_ttl})
        else:
            conn.execute(Q.RELEASE_LEASE, params)
        return False

    # --- signals and cancellation ------------------------------------------------

    def deliver_signal(self, run_id: str, name: str, payload: Any) -> bool:
        """Resolve a pending await of ``name`` right away, or buffer the signal.

        Returns True when the run has new input and should be woken.
        """
        with self.db.engine.begin() as conn:
            run = lock_run(conn, run_id)
            if run.state != "running":
                raise RunFinished(run_id, run.state)
            waiting = conn.execute(Q.PENDING_SIGNAL_WAIT, {"run_id": run_id, "name": name}).first()
            if waiting is None:
                conn.execute(
                    Q.BUFFER_SIGNAL, {"run_id": run_id, "name": name, "payload": dumps(payload)}
                )
                return False
            conn.execute(Q.RESOLVE_WAIT, {"run_id": run_id, "command_id": waiting.command_id})
            seq = int(run.last_seq) + 1
            data = {"name": name, "payload": payload}
            append_event(conn, run_id, seq, "signal_received", waiting.command_id, data)
            mark_wake(conn, run_id, seq)
        return True

    def cancel(self, run_id: str) -> None:
        """End a running run as cancelled and discard its pending tasks and waits."""
        with self.db.engine.begin() as conn:
            run = lock_run(conn, run_id)
            if run.state != "running":
                raise RunFinished(run_id, run.state)
            conn.execute(
                Q.FINISH_RUN,
                {
                    "id": run_id,
                    "state": "cancelled",
                    "result": None,
                    "error": "cancelled",
                    "last_seq": int(run.last_seq),
                },
            )
            discard_pending(conn, run_id)

    # --- reads --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        with self.db.engine.connect() as conn:
            row = conn.execute(Q.GET_RUN, {"id": run_id}).first()
        if row is None:
            raise RunNotFound(f"no run with id {run_id}")
        return _run_record(row)

    def history(self, run_id: str) -> list[Event]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(Q.LOAD_EVENTS, {"run_id": run_id, "after": 0})
            return [to_event(r) for r in rows]


def discard_pending(conn: Connection, run_id: str) -> None:
    conn.execute(Q.CANCEL_ATTEMPTS, {"run_id": run_id})
    conn.execute(Q.CANCEL_TASKS, {"run_id": run_id})
    conn.execute(Q.RESOLVE_ALL_WAITS, {"run_id": run_id})


def _run_record(row: Row[Any]) -> RunRecord:
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
    )


class _DecisionWriter:
    """Turns commands into events plus their side rows, inside one transaction."""

    def __init__(self, conn: Connection, run_id: str, last_seq: int, db_now: datetime) -> None:
        self.conn = conn
        self.run_id = run_id
        self.seq = last_seq
        self.db_now = db_now
        self.tasks: list[TaskMessage] = []
        self.consumed_signal = False

    def append(self, type_: str, command_id: str, data: dict[str, Any]) -> None:
        self.seq += 1
        append_event(self.conn, self.run_id, self.seq, type_, command_id, data)

    def write(self, command: Command) -> None:
        handler = getattr(self, f"_write_{command.type}", None)
        if handler is None:
            self.append(command.type, command.command_id, command.data)
        else:
            handler(command)

    def _write_activity_scheduled(self, command: Command) -> None:
        data = command.data
        task_id = str(uuid.uuid4())
        self.append(command.type, command.command_id, data | {"task_id": task_id})
        self.conn.execute(
            Q.INSERT_TASK,
            {
                "id": task_id,
                "run_id": self.run_id,
                "command_id": command.command_id,
                "activity": data["activity"],
                "args": dumps(data["args"]),
                "kwargs": dumps(data["kwargs"]),
                "queue": data.get("queue"),
                "priority": data.get("priority"),
                "timeout": data["timeout"],
                "retry": dumps(data["retry"]),
            },
        )
        self.tasks.append(
            TaskMessage(
                task_id,
                self.run_id,
                data["activity"],
                1,
                data.get("queue"),
                data.get("priority"),
                float(data["timeout"]),
            )
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
        buffered = self.conn.execute(
            Q.TAKE_BUFFERED_SIGNAL, {"run_id": self.run_id, "name": name}
        ).first()
        if buffered is not None:
            self.conn.execute(
                Q.RESOLVE_WAIT, {"run_id": self.run_id, "command_id": command.command_id}
            )
            data = {"name": name, "payload": buffered.payload}
            self.append("signal_received", command.command_id, data)
            self.consumed_signal = True

    def _insert_wait(
        self, command_id: str, kind: str, name: str | None, fires_at: datetime | None
    ) -> None:
        self.conn.execute(
            Q.INSERT_WAIT,
            {
                "run_id": self.run_id,
                "command_id": command_id,
                "kind": kind,
                "name": name,
                "fires_at": fires_at,
            },
        )
