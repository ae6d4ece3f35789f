"""One run with a long history: ``STEPS`` activities, each scheduled then completed
(two events, a task and an attempt apiece), written by set-based SQL as the ops
seeder does. Every value is a bind parameter; the text is fixed."""

from __future__ import annotations

from sqlalchemy import Engine, text

RUN_ID = "run-long-history"
RUN = text(
    "INSERT INTO cx_runs (id, workflow, state, attributes, created_at, completed_at,"
    " last_seq, args)"
    " VALUES (:id, 'flow.long', 'completed', '{\"customer\": \"c-1\"}',"
    " now() - interval '1 hour', now(), :last, '[]')"
)
EVENTS = text(
    "INSERT INTO cx_events (run_id, seq, type, command_id, data, created_at)"
    " SELECT :id, s, CASE WHEN s % 2 = 1 THEN 'activity_scheduled'"
    " ELSE 'activity_completed' END, 'activity:flow.step:' || ((s - 1) / 2),"
    ' CASE WHEN s % 2 = 1 THEN \'{"activity": "flow.step"}\'::jsonb'
    " ELSE jsonb_build_object('result', s) END,"
    " now() - interval '1 hour' + make_interval(secs => s * 0.3)"
    " FROM generate_series(1, CAST(:last AS bigint)) s"
)
TASKS = text(
    "INSERT INTO cx_tasks (id, run_id, command_id, activity, timeout, retry, state, attempt,"
    " published_at, created_at)"
    " SELECT gen_random_uuid(), e.run_id, e.command_id, 'flow.step', 60, '{}', 'completed', 1,"
    " e.created_at, e.created_at FROM cx_events e"
    " WHERE e.run_id = :id AND e.type = 'activity_scheduled'"
)
ATTEMPTS = text(
    "INSERT INTO cx_attempts (task_id, attempt, claim_token, outcome, started_at, finished_at)"
    " SELECT t.id, 1, 1, 'completed', t.created_at, t.created_at + interval '200 ms'"
    " FROM cx_tasks t WHERE t.run_id = :id"
)


def seed_long_run(engine: Engine, events: int) -> str:
    """The long run (``events`` events, an even number), written once; its id."""
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM cx_runs WHERE id = :id"), {"id": RUN_ID}).first():
            return RUN_ID
        conn.execute(RUN, {"id": RUN_ID, "last": events})
        for statement in (EVENTS, TASKS, ATTEMPTS):
            conn.execute(statement, {"id": RUN_ID, "last": events})
    return RUN_ID
