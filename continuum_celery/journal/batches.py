"""Many activities scheduled by one decision, written in one statement (a fan-out).

A gather of 1,000 activities is 1,000 ``activity_scheduled`` events and 1,000 task
rows. Written one statement each, the run is held for 1,000 round trips before its
first message can be published; written as one statement over arrays, for one.
Each row is exactly what ``SCHEDULE_TASK`` writes for one activity, claim included
(at most one of them is claimed, for inline dispatch), and the events come back
as stored, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from .db import Record, execute
from .queries import q

# ``input`` is one row per activity, in seq order. The run is released with the
# last write only when :release (the decision's last command, nothing new seen).
# Tasks are available and published at one instant, read once (see SCHEDULE_TASK).
SCHEDULE_TASKS = q(
    "WITH input AS (SELECT * FROM unnest(CAST(:seq AS bigint[]), CAST(:type AS text[]),"
    " CAST(:id AS uuid[]), CAST(:command_id AS text[]), CAST(:data AS jsonb[]),"
    " CAST(:activity AS text[]), CAST(:args AS jsonb[]), CAST(:kwargs AS jsonb[]),"
    " CAST(:queue AS text[]), CAST(:priority AS integer[]),"
    " CAST(:timeout AS double precision[]), CAST(:retry AS jsonb[]), CAST(:kind AS text[]),"
    " CAST(:idempotency_key AS text[]), CAST(:claim AS boolean[]))"
    " AS i (seq, type, id, command_id, data, activity, args, kwargs, queue, priority,"
    " timeout, retry, kind, idempotency_key, claim)),"
    " event AS (INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " SELECT :run_id, seq, type, command_id, data FROM input"
    " RETURNING seq, type, command_id, data, created_at),"
    " task AS (INSERT INTO cx_tasks (id, run_id, command_id, activity, args, kwargs,"
    " queue, priority, timeout, retry, kind, idempotency_key, available_at, published_at,"
    " state, claim_token, claim_expires_at, deadline_at, claimed_by, scope)"
    " SELECT id, :run_id, command_id, activity, args, kwargs, queue, priority, timeout,"
    " retry, kind, idempotency_key, now.at, now.at,"
    " CASE WHEN claim THEN 'claimed' ELSE 'ready' END,"
    " CASE WHEN claim THEN nextval('cx_token_seq') END,"
    " CASE WHEN claim THEN clock_timestamp() + make_interval(secs => LEAST(timeout, :ttl))"
    " END,"
    " CASE WHEN claim THEN clock_timestamp() + make_interval(secs => timeout) END,"
    " CASE WHEN claim THEN CAST(:owner AS text) END,"
    " (SELECT scope FROM cx_runs WHERE id = :run_id)"
    " FROM input, (SELECT clock_timestamp() AS at) now RETURNING id, claim_token),"
    " attempt AS (INSERT INTO cx_attempts (task_id, attempt, claim_token)"
    " SELECT id, 1, claim_token FROM task WHERE claim_token IS NOT NULL),"
    " run AS (UPDATE cx_runs SET last_seq = :last_seq, lease_owner = NULL,"
    " lease_expires_at = NULL, wake_at = NULL, wake_nudges = 0, awaiting = :awaiting"
    " WHERE id = :run_id AND :release)"
    " SELECT event.*, task.claim_token FROM input JOIN event ON event.seq = input.seq"
    " JOIN task ON task.id = input.id ORDER BY input.seq"
)

COLUMNS = ("seq", "type", "id", "command_id", "data", "activity", "args", "kwargs", "queue",
           "priority", "timeout", "retry", "kind", "idempotency_key", "claim")  # fmt: skip
"""The per-activity values of ``SCHEDULE_TASK``'s parameters, one array each here."""


def schedule_tasks(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[Record]:
    """Write ``rows`` (``SCHEDULE_TASK``'s parameters, one dict per activity, in seq
    order) in one round trip; the stored events with their claim tokens, in order.

    The values every row shares (run, claim TTL and owner, release) are the last
    row's: only the decision's last write may release the run.
    """
    last = rows[-1]
    params = {column: [row[column] for row in rows] for column in COLUMNS}
    params |= {"run_id": last["run_id"], "ttl": last["ttl"], "owner": last["owner"],
               "release": last["release"], "awaiting": last["awaiting"],
               "last_seq": last["seq"]}  # fmt: skip
    return list(execute(conn, SCHEDULE_TASKS, params).all())
