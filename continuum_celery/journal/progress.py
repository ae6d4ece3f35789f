"""What a run page polls and draws: each activity attempt, and a cheap change mark.

Read-only statements for operators; the attempts rows are what a timeline needs
(one bar per attempt), and the mark is one indexed read that changes whenever the
run's state, history, attempts or audit trail does, so a page can poll it every
second without reading the whole run.
"""

from __future__ import annotations

from ..engine.events import Event
from ..views import Attempt, RunMark
from .db import Database, Record, execute
from .queries import q
from .rows import to_event

RUN_ATTEMPTS = q(
    "SELECT t.id::text AS task_id, t.command_id, t.activity, t.kind, a.attempt, a.outcome,"
    " a.error, a.started_at, a.finished_at"
    " FROM cx_tasks t CROSS JOIN LATERAL"
    " (SELECT * FROM cx_attempts x WHERE x.task_id = t.id OFFSET 0) a"
    " WHERE t.run_id = :run_id ORDER BY a.started_at, t.command_id, a.attempt"
)
"""Attempts by each task's primary key (LATERAL): for a run of thousands of tasks a
plain join made the planner hash-join against a scan of every attempt."""
RUN_MARK = q(
    "SELECT r.state,"
    " COALESCE((SELECT max(seq) FROM cx_events e WHERE e.run_id = r.id), 0) AS last_seq,"
    " (SELECT count(*) FROM cx_tasks t CROSS JOIN LATERAL"
    " (SELECT 1 FROM cx_attempts a WHERE a.task_id = t.id OFFSET 0) a"
    " WHERE t.run_id = r.id) AS attempts,"
    " (SELECT count(*) FROM cx_audit u WHERE u.run_id = r.id) AS audits"
    " FROM cx_runs r WHERE r.id = :run_id"
)


def attempts(db: Database, run_id: str) -> list[Attempt]:
    """Every attempt of the run's activities, in the order they started."""
    with db.engine.connect() as conn:
        return [_attempt(row) for row in execute(conn, RUN_ATTEMPTS, {"run_id": run_id})]


EVENTS_TAIL = q(
    "SELECT seq, type, command_id, data, created_at FROM cx_events"
    " WHERE run_id = :run_id ORDER BY seq DESC LIMIT :n"
)
EVENTS_FROM = q(
    "SELECT seq, type, command_id, data, created_at FROM cx_events"
    " WHERE run_id = :run_id AND seq >= :low ORDER BY seq LIMIT :n"
)
STEP_ATTEMPTS = q(
    "SELECT t.id::text AS task_id, t.command_id, t.activity, t.kind, a.attempt, a.outcome,"
    " a.error, a.started_at, a.finished_at"
    " FROM cx_tasks t CROSS JOIN LATERAL"
    " (SELECT * FROM cx_attempts x WHERE x.task_id = t.id OFFSET 0) a"
    " WHERE t.run_id = :run_id AND t.command_id = ANY(:ids)"
    " ORDER BY a.started_at, t.command_id, a.attempt"
)


def events_window(db: Database, run_id: str, from_seq: int | None, n: int) -> list[Event]:
    """``n`` events from ``from_seq`` on, or the latest ``n`` without one, by seq."""
    with db.engine.connect() as conn:
        if from_seq is None:
            tail = execute(conn, EVENTS_TAIL, {"run_id": run_id, "n": n})
            return [to_event(row) for row in tail][::-1]
        page = execute(conn, EVENTS_FROM, {"run_id": run_id, "low": from_seq, "n": n})
        return [to_event(row) for row in page]


def step_attempts(db: Database, run_id: str, command_ids: list[str]) -> list[Attempt]:
    """The attempts of the run's activities with these command ids, in start order."""
    with db.engine.connect() as conn:
        rows = execute(conn, STEP_ATTEMPTS, {"run_id": run_id, "ids": command_ids})
        return [_attempt(row) for row in rows]


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
