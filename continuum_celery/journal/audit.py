"""The audit trail: one row per operator action, written inside the action's own
transaction, so a refused action leaves none and no action happens without one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from ..query import ENTRY_FIELDS, Node, field_names
from ..views import AuditEntry
from .compiler import Compiler, run, where
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
# The audit log's query fields: the entry's own (``a``), else the run's (``r``).
COLUMNS: Mapping[str, str] = {
    "run_id": "a.run_id",
    "action": "a.action",
    "actor": "a.actor",
    "reason": "a.reason",
    "at": "a.created_at",
    "workflow": "r.workflow",
    "state": "r.state",
    "namespace": "r.namespace",
    "scope": "r.scope",
    "parent_run_id": "r.parent_run_id",
    "created_at": "r.created_at",
    "ended_at": "r.completed_at",
    "updated_at": "GREATEST(r.created_at, r.cancel_requested_at, r.completed_at)",
}


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
        execute(conn, INSERT_AUDIT, self.row(run_id, action, details))

    def row(
        self, run_id: str | None, action: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The audit row's values, for a statement that writes it with others."""
        return {"run_id": run_id, "action": action, "actor": self.actor, "job_id": self.job,
                "reason": self.reason, "details": dumps(details or {})}  # fmt: skip


def of_run(db: Database, run_id: str) -> list[AuditEntry]:
    """A run's entries, oldest first."""
    with db.engine.connect() as conn:
        return [entry(row) for row in execute(conn, RUN_AUDIT, {"run_id": run_id})]


def latest(db: Database, node: Node | None, limit: int) -> list[AuditEntry]:
    """The latest entries matching ``node``, newest first."""
    statement, params = log_statement(node, limit)
    with db.engine.connect() as conn:
        return [entry(row) for row in run(conn, statement, params)]


def log_statement(node: Node | None, limit: int) -> tuple[str, dict[str, Any]]:
    """The SELECT for the audit log; it joins the runs only when the query asks
    about them (an entry's own fields, ``run_id`` among them, need no join)."""
    sql = Compiler(COLUMNS, "r.attributes")
    conditions = [sql.condition(node)] if node is not None else []
    about_runs = node is not None and bool(field_names(node) - ENTRY_FIELDS)
    join = " JOIN cx_runs r ON r.id = a.run_id" if about_runs else ""
    statement = (
        "SELECT a.run_id, a.action, a.actor, a.reason, a.details, a.created_at,"  # noqa: S608
        " a.job_id"
        f" FROM cx_audit a{join}{where(conditions)}"  # fixed text, every value bound
        f" ORDER BY a.created_at DESC, a.id DESC LIMIT {sql.bind(limit)}"
    )
    return statement, sql.params


def entry(row: Record) -> AuditEntry:
    run_id = None if row.run_id is None else str(row.run_id)
    return AuditEntry(run_id, row.action, row.actor, row.reason, dict(row.details),
                      row.created_at, row.job_id)  # fmt: skip
