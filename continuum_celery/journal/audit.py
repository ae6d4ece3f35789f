"""The audit trail: one row per operator action, written inside the action's own
transaction, so a refused action leaves none and no action happens without one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..views import AuditEntry
from .db import Database, Record, execute
from .queries import q
from .rows import dumps

INSERT_AUDIT = q(
    "INSERT INTO cx_audit (run_id, action, actor, reason, details, job_id)"
    " VALUES (:run_id, :action, :actor, :reason, CAST(:details AS jsonb), :job_id)"
)
RUN_AUDIT = q(
    "SELECT run_id, action, actor, reason, details, created_at, job_id FROM cx_audit"
    " WHERE run_id = :run_id ORDER BY id"
)
# The latest entries, newest first; each filter applies only when given.
AUDIT_LOG = q(
    "SELECT run_id, action, actor, reason, details, created_at, job_id FROM cx_audit"
    " WHERE (CAST(:since AS timestamptz) IS NULL OR created_at >= :since)"
    " AND (CAST(:action AS text) IS NULL OR action = :action)"
    " AND (CAST(:actor AS text) IS NULL OR actor = :actor)"
    " ORDER BY created_at DESC, id DESC LIMIT :limit"
)


class Actor:
    """Who acts and why: what an operator action carries into its audit row; and,
    for an action a bulk job takes on one of its runs, which job."""

    def __init__(self, actor: str, reason: str | None, job: str | None = None) -> None:
        self.actor, self.reason, self.job = actor, reason, job

    def record(
        self,
        conn: Connection,
        run_id: str | None,
        action: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write the audit row in the caller's transaction (one INSERT, no read).
        ``run_id`` is None only for a row about a whole job."""
        params = {"run_id": run_id, "action": action, "actor": self.actor, "job_id": self.job,
                  "reason": self.reason, "details": dumps(details or {})}  # fmt: skip
        execute(conn, INSERT_AUDIT, params)


def of_run(db: Database, run_id: str) -> list[AuditEntry]:
    """A run's entries, oldest first."""
    with db.engine.connect() as conn:
        return [entry(row) for row in execute(conn, RUN_AUDIT, {"run_id": run_id})]


def latest(
    db: Database, since: datetime | None, action: str | None, actor: str | None, limit: int
) -> list[AuditEntry]:
    """The latest entries across runs, newest first."""
    params = {"since": since, "action": action, "actor": actor, "limit": limit}
    with db.engine.connect() as conn:
        return [entry(row) for row in execute(conn, AUDIT_LOG, params)]


def entry(row: Record) -> AuditEntry:
    run_id = None if row.run_id is None else str(row.run_id)
    return AuditEntry(run_id, row.action, row.actor, row.reason, dict(row.details),
                      row.created_at, row.job_id)  # fmt: skip
