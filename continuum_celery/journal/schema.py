"""The schema the code expects: tables, the columns its queries use, and key indexes.

``migrations/`` is the source of truth; this description exists so a test can
check that a migrated database really has what ``queries.py`` relies on.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, text

EXPECTED_COLUMNS: Mapping[str, frozenset[str]] = {
    "cx_runs": frozenset(
        {
            "id",
            "workflow",
            "version",
            "namespace",
            "state",
            "args",
            "kwargs",
            "result",
            "error",
            "attributes",
            "idempotency_key",
            "parent_run_id",
            "last_seq",
            "created_at",
            "completed_at",
            "lease_owner",
            "lease_token",
            "lease_expires_at",
            "wake_at",
            "depth",
            "parent_command_id",
            "continued_from",
            "next_run_id",
            "correlation_id",
            "wake_nudges",
            "cancel_requested_at",
            "cancel_reason",
            "traceback",
            "forked_from",
            "fork_seq",
            "scope",
            "trace_context",
            "awaiting",
        }
    ),
    "cx_schedules": frozenset(
        {
            "id",
            "workflow",
            "specs",
            "tz",
            "dst_gap",
            "dst_fold",
            "args",
            "kwargs",
            "overlap",
            "catchup_window",
            "jitter",
            "paused",
            "note",
            "next_tick",
            "next_fire_at",
            "last_run_id",
            "buffered",
            "actions",
            "missed_catchup",
            "overlap_skipped",
            "buffer_dropped",
            "recent_actions",
            "created_at",
            "updated_at",
            "scope",
        }
    ),
    "cx_events": frozenset({"run_id", "seq", "type", "command_id", "data", "created_at"}),
    "cx_tasks": frozenset(
        {
            "id",
            "run_id",
            "command_id",
            "activity",
            "args",
            "kwargs",
            "queue",
            "priority",
            "timeout",
            "retry",
            "attempt",
            "state",
            "available_at",
            "published_at",
            "claim_token",
            "claim_expires_at",
            "deadline_at",
            "heartbeat_at",
            "heartbeat_details",
            "created_at",
            "kind",
            "idempotency_key",
            "publish_count",
            "claimed_by",
            "scope",
        }
    ),
    "cx_attempts": frozenset(
        {"task_id", "attempt", "claim_token", "outcome", "error", "started_at", "finished_at"}
    ),
    "cx_waits": frozenset(
        {"run_id", "command_id", "kind", "name", "fires_at", "resolved", "created_at", "scope"}
    ),
    "cx_signals": frozenset({"id", "run_id", "name", "payload", "consumed", "created_at"}),
    "cx_start_keys": frozenset(
        {"namespace", "workflow", "idempotency_key", "run_id", "created_at"}
    ),
    "cx_activity_results": frozenset(
        {"activity", "idempotency_key", "result", "run_id", "created_at"}
    ),
    "cx_schema_migrations": frozenset({"version", "name", "applied_at"}),
    "cx_upkeep_leader": frozenset({"id", "scope", "owner", "since", "expires_at"}),
    "cx_audit": frozenset(
        {"id", "run_id", "action", "actor", "reason", "details", "created_at", "job_id"}
    ),
    "cx_saved_views": frozenset({"name", "query", "created_by", "created_at"}),
    "cx_jobs": frozenset({"id", "action", "query", "args", "reason", "actor", "state", "total",
                          "created_at", "ended_at", "scope"}),
    "cx_job_items": frozenset({"job_id", "run_id", "state", "error", "ended_at"}),
}  # fmt: skip

EXPECTED_VIEWS: Mapping[str, tuple[str, ...]] = {
    "continuum_runs": ("id", "workflow", "version", "namespace", "state", "error",
                       "attributes", "parent_run_id", "continued_from", "next_run_id",
                       "forked_from", "fork_seq", "cancel_requested_at", "cancel_reason",
                       "created_at", "ended_at", "updated_at"),
    "continuum_events": ("run_id", "seq", "type", "command_id", "data", "created_at"),
    "continuum_attempts": ("run_id", "task_id", "command_id", "activity", "kind", "attempt",
                           "outcome", "error", "started_at", "finished_at"),
}  # fmt: skip
"""The read-only views operators query (docs/operations.md, "SQL views"): a stable
contract, so their columns are listed in order and checked exactly, unlike tables."""

EXPECTED_INDEXES = frozenset(
    {"cx_runs_wake", "cx_tasks_ready", "cx_tasks_claimed", "cx_waits_due", "cx_waits_signal",
     "cx_signals_pending", "cx_runs_created", "cx_runs_state_created",
     "cx_runs_workflow_created", "cx_runs_attributes", "cx_audit_run", "cx_audit_created",
     "cx_runs_finished", "cx_runs_chain_live", "cx_signals_run", "cx_start_keys_run",
     "cx_activity_results_run", "cx_runs_blocked", "cx_schedules_due", "cx_schedules_buffered",
     "cx_runs_attention_attributes", "cx_jobs_created", "cx_job_items_pending", "cx_audit_job",
     "cx_runs_forked_from"}
)  # fmt: skip

EXPECTED_SEQUENCES = frozenset({"cx_token_seq"})

RUN_ID_COLUMNS = frozenset(
    {("cx_schedules", "last_run_id")}
    | {("cx_runs", c) for c in ("id", "parent_run_id", "continued_from", "next_run_id",
                              "correlation_id")}
    | {(t, "run_id") for t in ("cx_events", "cx_tasks", "cx_waits", "cx_signals",
                               "cx_start_keys", "cx_activity_results", "cx_audit",
                               "cx_job_items")}
)  # fmt: skip
"""Columns holding run ids: text since 0003, since a run id may be any printable string."""


def actual_columns(conn: Connection) -> dict[str, frozenset[str]]:
    rows = conn.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name LIKE 'cx\\_%'"
        )
    )
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return {table: frozenset(columns) for table, columns in found.items()}


def non_text_run_ids(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name LIKE 'cx\\_%'"
        )
    )
    wrong = [(t, c, kind) for t, c, kind in rows if (t, c) in RUN_ID_COLUMNS and kind != "text"]
    return [f"{t}: column {c} is {kind}, not text" for t, c, kind in sorted(wrong)]


def actual_indexes(conn: Connection) -> frozenset[str]:
    rows = conn.execute(
        text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    )
    return frozenset(row[0] for row in rows)


def actual_sequences(conn: Connection) -> frozenset[str]:
    rows = conn.execute(
        text(
            "SELECT sequence_name FROM information_schema.sequences"
            " WHERE sequence_schema = current_schema()"
        )
    )
    return frozenset(row[0] for row in rows)


def actual_views(conn: Connection) -> dict[str, tuple[str, ...]]:
    """Each ``continuum_*`` view's columns in order: a reordering breaks ``SELECT *``."""
    rows = conn.execute(
        text(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.views v ON v.table_schema = c.table_schema"
            " AND v.table_name = c.table_name"
            " WHERE c.table_schema = current_schema() AND c.table_name LIKE 'continuum\\_%'"
            " ORDER BY c.table_name, c.ordinal_position"
        )
    )
    found: dict[str, list[str]] = {}
    for view, column in rows:
        found.setdefault(view, []).append(column)
    return {view: tuple(columns) for view, columns in found.items()}


def view_differences(conn: Connection) -> list[str]:
    """Where the operator views stray from their contract; empty when they keep it."""
    views = actual_views(conn)
    problems = []
    for view, expected in EXPECTED_VIEWS.items():
        have = views.get(view)
        if have is None:
            problems.append(f"missing view {view}")
        elif have != expected:
            problems.append(f"{view}: columns are {', '.join(have)}, not {', '.join(expected)}")
    return problems


def differences(conn: Connection) -> list[str]:
    """Human-readable mismatches between the database and the code; empty when in step."""
    problems = []
    columns = actual_columns(conn)
    for table, expected in EXPECTED_COLUMNS.items():
        have = columns.get(table)
        if have is None:
            problems.append(f"missing table {table}")
            continue
        problems += [f"{table}: missing column {c}" for c in sorted(expected - have)]
        problems += [f"{table}: unexpected column {c}" for c in sorted(have - expected)]
    problems += non_text_run_ids(conn)
    problems += [f"missing index {i}" for i in sorted(EXPECTED_INDEXES - actual_indexes(conn))]
    missing_sequences = EXPECTED_SEQUENCES - actual_sequences(conn)
    problems += [f"missing sequence {s}" for s in sorted(missing_sequences)]
    return problems + view_differences(conn)
