"""What a run page polls and draws: each activity attempt, and a cheap change mark.

Read-only statements for operators; the attempts rows are what a timeline needs
(one bar per attempt), and the mark is one indexed read that changes whenever the
run's state, history, attempts or audit trail does, so a page can poll it every
second without reading the whole run.
"""

from __future__ import annotations

from ..views import Attempt, RunMark
from .db import Database, Record, execute
from .queries import q

RUN_ATTEMPTS = q(
    "SELECT t.id::text AS task_id, t.command_id, t.activity, t.kind, a.attempt, a.outcome,"
    " a.error, a.started_at, a.finished_at"
    " FROM cx_tasks t JOIN cx_attempts a ON a.task_id = t.id"
    " WHERE t.run_id = :run_id ORDER BY a.started_at, t.command_id, a.attempt"
)
RUN_MARK = q(
    "SELECT r.state,"
    " COALESCE((SELECT max(seq) FROM cx_events e WHERE e.run_id = r.id), 0) AS last_seq,"
    " (SELECT count(*) FROM cx_attempts a JOIN cx_tasks t ON t.id = a.task_id"
    " WHERE t.run_id = r.id) AS attempts,"
    " (SELECT count(*) FROM cx_audit u WHERE u.run_id = r.id) AS audits"
    " FROM cx_runs r WHERE r.id = :run_id"
)


def attempts(db: Database, run_id: str) -> list[Attempt]:
    """Every attempt of the run's activities, in the order they started."""
    with db.engine.connect() as conn:
        return [_attempt(row) for row in execute(conn, RUN_ATTEMPTS, {"run_id": run_id})]


def mark(db: Database, run_id: str) -> RunMark | None:
    """The run's change mark; None for an unknown run."""
    with db.engine.connect() as conn:
        row = execute(conn, RUN_MARK, {"run_id": run_id}).first()
    if row is None:
        return None
    return RunMark(run_id, row.state, int(row.last_seq), int(row.attempts), int(row.audits))


def _attempt(row: Record) -> Attempt:
    return Attempt(row.task_id, row.command_id, row.activity, row.kind, int(row.attempt),
                   row.outcome, row.error, row.started_at, row.finished_at)  # fmt: skip
