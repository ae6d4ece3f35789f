"""Bulk jobs in Postgres: creating one (job row, frozen selection, audit row in one
transaction), reading them back, aborting, and the batches upkeep carries out.

A batch holds its items' row locks (``FOR UPDATE SKIP LOCKED``) in a transaction
of its own while each item's action commits in its own transaction, and marks the
items in the batch transaction. A worker that dies mid-batch releases the locks
with its connection, so the items are picked again at once; an item whose action
had already committed is known by its audit row (which names the job) and is
marked done without acting twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from ..errors import JobNotFound
from ..query import Node
from ..views import Job, JobItem
from .audit import Actor
from .db import Database, Record, execute
from .listing import freeze
from .queries import q
from .rows import dumps

INSERT_JOB = q(
    "INSERT INTO cx_jobs (id, action, query, args, reason, actor, scope)"
    " VALUES (:id, :action, :query, CAST(:args AS jsonb), :reason, :actor, :scope)"
)
# A job that selected nothing has nothing to do: it is complete as it is created.
SET_TOTAL = q(
    "UPDATE cx_jobs SET total = :total,"
    " state = CASE WHEN :total = 0 THEN 'completed' ELSE state END,"
    " ended_at = CASE WHEN :total = 0 THEN clock_timestamp() END WHERE id = :id"
)
# A job with its progress, counted from its items (always true, never a counter
# that a crash could leave behind).
GET_JOB = q(
    "SELECT j.id, j.action, j.query, j.args, j.reason, j.actor, j.state, j.total,"
    " j.created_at, j.ended_at,"
    " count(i.run_id) FILTER (WHERE i.state = 'done') AS done,"
    " count(i.run_id) FILTER (WHERE i.state = 'failed') AS failed,"
    " count(i.run_id) FILTER (WHERE i.state = 'pending') AS left_"
    " FROM cx_jobs j LEFT JOIN cx_job_items i ON i.job_id = j.id"
    " WHERE j.id = :id GROUP BY j.id"
)
LIST_JOBS = q(
    "SELECT j.id, j.action, j.query, j.args, j.reason, j.actor, j.state, j.total,"
    " j.created_at, j.ended_at,"
    " count(i.run_id) FILTER (WHERE i.state = 'done') AS done,"
    " count(i.run_id) FILTER (WHERE i.state = 'failed') AS failed,"
    " count(i.run_id) FILTER (WHERE i.state = 'pending') AS left_"
    " FROM cx_jobs j LEFT JOIN cx_job_items i ON i.job_id = j.id"
    " WHERE (CAST(:state AS text) IS NULL OR j.state = :state)"
    " GROUP BY j.id ORDER BY j.created_at DESC, j.id DESC LIMIT :limit"
)
JOB_ITEMS = q(
    "SELECT run_id, state, error, ended_at FROM cx_job_items"
    " WHERE job_id = :id AND (CAST(:state AS text) IS NULL OR state = :state)"
    " ORDER BY run_id LIMIT :limit"
)
ABORT_JOB = q(
    "UPDATE cx_jobs SET state = 'aborted', ended_at = clock_timestamp()"
    " WHERE id = :id AND state = 'running' RETURNING id"
)
# The one statement that picks work for upkeep: pending items of this scope's
# running jobs, oldest job first. The job row is share-locked so
# that an abort waits for the batch in flight and no item is acted on after it.
PICK_JOB_ITEMS = q(
    "SELECT i.job_id, i.run_id, j.action, j.args, j.reason, j.actor"
    " FROM cx_job_items i JOIN cx_jobs j ON j.id = i.job_id"
    " WHERE i.state = 'pending' AND j.state = 'running' AND j.scope = :scope"
    " ORDER BY j.created_at, i.job_id, i.run_id LIMIT :batch"
    " FOR UPDATE OF i SKIP LOCKED FOR SHARE OF j"
)
# An action on a continue-as-new chain lands on its newest run; its audit row then
# names the run asked for in details. One probe of the index cx_audit_job.
ALREADY_APPLIED = q(
    "SELECT EXISTS (SELECT 1 FROM cx_audit WHERE job_id = :job"
    " AND COALESCE((details ->> 'requested_run_id') COLLATE \"C\", run_id) = :run)"
)
SETTLE_ITEM = q(
    "UPDATE cx_job_items SET state = :state, error = :error, ended_at = clock_timestamp()"
    " WHERE job_id = :job AND run_id = :run"
)
FINISH_JOBS = q(
    "UPDATE cx_jobs j SET state = 'completed', ended_at = clock_timestamp()"
    " WHERE j.state = 'running' AND NOT EXISTS"
    " (SELECT 1 FROM cx_job_items i WHERE i.job_id = j.id AND i.state = 'pending')"
    " RETURNING j.id"
)

Apply = Callable[[str, str, dict[str, Any], Actor], str | None]
"""(action, run id, args, who) -> None when done, else why the item failed."""


def create(db: Database, job_id: str, action: str, query: str, node: Node,
           args: dict[str, Any], by: Actor, scope: str) -> None:  # fmt: skip
    """The job, its frozen selection and its audit row, in one transaction. ``node``
    is already confined to ``scope``."""
    row = {"id": job_id, "action": action, "query": query, "args": dumps(args),
           "reason": by.reason, "actor": by.actor, "scope": scope}  # fmt: skip
    with db.engine.begin() as conn:
        execute(conn, INSERT_JOB, row)
        total = freeze(conn, node, job_id)
        execute(conn, SET_TOTAL, {"id": job_id, "total": total})
        details = {"action": action, "query": query, "args": args, "total": total}
        Actor(by.actor, by.reason, job_id).record(conn, None, "bulk", details)


def get(db: Database, job_id: str) -> Job:
    with db.engine.connect() as conn:
        row = execute(conn, GET_JOB, {"id": job_id}).first()
    if row is None:
        raise JobNotFound(f"no job {job_id}")
    return job(row)


def latest(db: Database, state: str | None, limit: int) -> list[Job]:
    with db.engine.connect() as conn:
        return [job(row) for row in execute(conn, LIST_JOBS, {"state": state, "limit": limit})]


def items(db: Database, job_id: str, state: str | None, limit: int) -> list[JobItem]:
    params = {"id": job_id, "state": state, "limit": limit}
    with db.engine.connect() as conn:
        rows = execute(conn, JOB_ITEMS, params).all()
    return [JobItem(str(r.run_id), r.state, r.error, r.ended_at) for r in rows]


def abort(db: Database, job_id: str, by: Actor) -> bool:
    """Stop the job (its pending items stay pending); False if it was not running."""
    with db.engine.begin() as conn:
        if execute(conn, ABORT_JOB, {"id": job_id}).first() is None:
            return False
        Actor(by.actor, by.reason, job_id).record(conn, None, "abort_job")
    return True


def work(db: Database, batch: int, apply: Apply, budget: float, scope: str) -> int:
    """Carry out one batch of pending items, for about ``budget`` seconds at most
    (upkeep's timers wait meanwhile); how many were settled. Items picked but not
    reached stay pending, for the next batch."""
    deadline = time.monotonic() + budget
    settled = 0
    with db.engine.begin() as conn:
        for row in execute(conn, PICK_JOB_ITEMS, {"batch": batch, "scope": scope}).all():
            if settled and time.monotonic() > deadline:
                break
            _settle(conn, row, apply)
            settled += 1
    with db.engine.begin() as conn:
        execute(conn, FINISH_JOBS, {})
    return settled


def _settle(conn: Connection, row: Record, apply: Apply) -> None:
    params = {"job": row.job_id, "run": row.run_id}
    if execute(conn, ALREADY_APPLIED, params).scalar():
        error = None  # a batch that died after this item's action committed
    else:
        by = Actor(row.actor, row.reason, row.job_id)
        error = apply(row.action, str(row.run_id), dict(row.args), by)
    state = "done" if error is None else "failed"
    execute(conn, SETTLE_ITEM, params | {"state": state, "error": error})


def job(row: Record) -> Job:
    return Job(row.id, row.action, row.query, dict(row.args), row.reason, row.actor,
               row.state, row.total, row.done, row.failed, row.left_, row.created_at,
               row.ended_at)  # fmt: skip
