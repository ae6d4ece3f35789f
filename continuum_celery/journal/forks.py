"""Writing a fork: the new run, its copy of the history, and the work it must redo.

All in one transaction, so a fork is either there whole or not at all; its id is
derived from (original, cut), so asking for the same fork again finds it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from ..engine.forking import ForkPlan
from . import queries as Q
from .audit import Actor
from .db import Database, execute
from .queries import q
from .records import TaskMessage
from .rows import append_event, dumps

# A fork: same workflow and input, no parent, ready to replay. Derived ids make a
# second fork at the same point find the first (nothing is inserted then).
INSERT_FORK = q(
    "INSERT INTO cx_runs (id, workflow, version, namespace, args, kwargs, attributes,"
    " forked_from, fork_seq, last_seq, wake_at, scope)"
    " SELECT :id, workflow, :version, namespace, args, kwargs, attributes, id, :at_seq,"
    " :last_seq, clock_timestamp(), scope FROM cx_runs WHERE id = :source"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
COPY_EVENTS = q(
    "INSERT INTO cx_events (run_id, seq, type, command_id, data, created_at)"
    " SELECT :run_id, e.seq, e.type, e.command_id, e.data,"
    " COALESCE(e.created_at, clock_timestamp())"
    " FROM jsonb_to_recordset(CAST(:events AS jsonb))"
    " AS e(seq bigint, type text, command_id text, data jsonb, created_at timestamptz)"
)
# An activity task to run again, ready and published at once (the caller publishes):
# at one instant, read once (see SCHEDULE_TASK).
INSERT_READY_TASK = q(
    "WITH now AS MATERIALIZED (SELECT clock_timestamp() AS at)"
    " INSERT INTO cx_tasks (id, run_id, command_id, activity, args, kwargs, queue, priority,"
    " timeout, retry, kind, idempotency_key, available_at, published_at, scope)"
    " VALUES (:id, :run_id, :command_id, :activity, CAST(:args AS jsonb),"
    " CAST(:kwargs AS jsonb), :queue, :priority, :timeout, CAST(:retry AS jsonb), :kind,"
    " :idempotency_key, (SELECT at FROM now), (SELECT at FROM now),"
    " (SELECT scope FROM cx_runs WHERE id = :run_id))"
)


_IDS = uuid.UUID("0b7c1f3e-5a4d-4e2b-9c61-2f8d7e3a9b10")


def fork_id(run_id: str, at_seq: int) -> str:
    return str(uuid.uuid5(_IDS, f"{run_id}/fork/{at_seq}"))


def create(
    db: Database, source: str, plan: ForkPlan, version: int, who: Actor
) -> tuple[str, list[TaskMessage] | None]:
    """(fork id, messages to publish); None messages when the fork already existed.

    A new fork is audited on the original, in the transaction that writes it."""
    new_id = fork_id(source, plan.at_seq)
    with db.engine.begin() as conn:
        params = {"id": new_id, "source": source, "version": version, "at_seq": plan.at_seq,
                  "last_seq": len(plan.events) + 1}  # fmt: skip
        if execute(conn, INSERT_FORK, params).first() is None:
            return new_id, None
        tasks = _renew_tasks(conn, new_id, plan.tasks)
        _copy(conn, new_id, plan, {task.command_id: task.task_id for task in tasks})
        _reopen_waits(conn, new_id, plan.waits)
        data = {"reason": who.reason, "by": who.actor, "forked_from": source,
                "at_seq": plan.at_seq}  # fmt: skip
        append_event(conn, new_id, len(plan.events) + 1, "run_forked", None, data)
        who.record(conn, source, "fork", {"fork_run_id": new_id, "at_seq": plan.at_seq})
    return new_id, [task.message for task in tasks]


@dataclass(frozen=True)
class _Task:
    command_id: str
    task_id: str
    message: TaskMessage


def _renew_tasks(conn: Connection, run_id: str, scheduled: list[Event]) -> list[_Task]:
    renewed = []
    for event in scheduled:
        data, task_id = event.data, str(uuid.uuid4())
        kind = "compensation" if event.type == "compensation_scheduled" else "activity"
        execute(conn, INSERT_READY_TASK, {
            "id": task_id, "run_id": run_id, "command_id": event.command_id,
            "activity": data["activity"], "args": dumps(data["args"]),
            "kwargs": dumps(data["kwargs"]), "queue": data.get("queue"),
            "priority": data.get("priority"), "timeout": float(data["timeout"]),
            "retry": dumps(data["retry"]), "kind": kind,
            "idempotency_key": data.get("idempotency_key"),
        })  # fmt: skip
        message = TaskMessage(task_id, run_id, data["activity"], 1, data.get("queue"),
                              data.get("priority"), float(data["timeout"]))  # fmt: skip
        renewed.append(_Task(str(event.command_id), task_id, message))
    return renewed


def _copy(conn: Connection, run_id: str, plan: ForkPlan, task_ids: dict[str, str]) -> None:
    rows = [_row(event, task_ids.get(str(event.command_id))) for event in plan.events]
    if rows:
        execute(conn, COPY_EVENTS, {"run_id": run_id, "events": dumps(rows)})


def _row(event: Event, task_id: str | None) -> dict[str, Any]:
    """An event as a JSON record; a rescheduled activity names its new task."""
    data = event.data | {"task_id": task_id} if task_id and "task_id" in event.data else event.data
    created = event.created_at.isoformat() if isinstance(event.created_at, datetime) else None
    return {"seq": event.seq, "type": event.type, "command_id": event.command_id,
            "data": data, "created_at": created}  # fmt: skip


def _reopen_waits(conn: Connection, run_id: str, waits: list[Event]) -> None:
    for event in waits:
        kind = "timer" if event.type == "timer_started" else "signal"
        fires_at = event.data.get("fires_at")
        execute(conn, Q.INSERT_WAIT, {
            "run_id": run_id, "command_id": event.command_id, "kind": kind,
            "name": event.data.get("name"),
            "fires_at": datetime.fromisoformat(fires_at) if fires_at else None,
        })  # fmt: skip
