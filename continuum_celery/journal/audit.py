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
    "INSERT INTO cx_audit (run_id, action, actor, reason, details)"
    " VALUES (:run_id, :action, :actor, :reason, CAST(:details AS jsonb))"
)
RUN_AUDIT = q(
    "SELECT run_id, action, actor, reason, details, created_at FROM cx_audit"
    " WHERE run_id = :run_id ORDER BY id"
)
# The latest entries, newest first; each filter applies only when given.
AUDIT_LOG = q(
    "SELECT run_id, action, actor, reason, details, created_at FROM cx_audit"
    " WHERE (CAST(:since AS timestamptz) IS NULL OR created_at >= :since)"
    " AND (CAST(:action AS text) IS NULL OR action = :action)"
    " AND (CAST(:actor AS text) IS NULL OR actor = :actor)"
    " ORDER BY created_at DESC, id DESC LIMIT :limit"
)


class Actor:
    """Who acts and why: what an operator action carries into its audit row."""

    def __init__(self, actor: str, reason: str | None) -> None:
        self.actor, self.reason = actor, reason

    def record(
        self, conn: Connection, run_id: str, action: str, details: dict[str, Any] | None = None
    ) -> None:
        """Write the audit row in the caller's transaction (one INSERT, no read)."""
        params = {"run_id": run_id, "action": action, "actor": self.actor,
                  "reason": self.reason, "details": dumps(details or {})}  # fmt: skip
        execute(conn, INSERT_AUDIT, params)


def of_run(db: Database, run_id: str) -> list[AuditEntry]:
    """A run's entries, oldest first."""
    with db.engine.connect() as conn:
        return [_entry(row) for row in execute(conn, RUN_AUDIT, {"run_id": run_id})]


def latest(
    db: Database, since: datetime | None, action: str | None, actor: str | None, limit: int
) -> list[AuditEntry]:
    """The latest entries across runs, newest first."""
    params = {"since": since, "action": action, "actor": actor, "limit": limit}
    with db.engine.connect() as conn:
        return [_entry(row) for row in execute(conn, AUDIT_LOG, params)]


def _entry(row: Record) -> AuditEntry:
    return AuditEntry(str(row.run_id), row.action, row.actor, row.reason, dict(row.details),
                      row.created_at)  # fmt: skip
