"""Listing and counting runs: the query AST compiled to parameterized SQL.

Every value from a query travels as a bind parameter (attribute keys too); column
names and operators come only from the fixed tables below and ``compiler.py``, so
no text a caller writes ever becomes SQL. Pages are keyset-paged on ``(created_at, id)``: a run
started between two pages sorts before the first (newest first) or after the last
(oldest first), so it neither repeats nor shifts rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..query import Node
from .compiler import Compiler, run, where
from .records import RunRecord
from .store import run_record as _run_record

COLUMNS: Mapping[str, str] = {
    "workflow": "workflow",
    "state": "state",
    "namespace": "namespace",
    "scope": "scope",
    "run_id": "id",
    "parent_run_id": "parent_run_id",
    "created_at": "created_at",
    "ended_at": "completed_at",
    # The latest moment the run's row records: no column, so no write pays for it.
    "updated_at": "GREATEST(created_at, cancel_requested_at, completed_at)",
}
GROUPS: Mapping[str, str] = {"state": "state", "workflow": "workflow", "namespace": "namespace"}
ORDERS: Mapping[str, tuple[str, str]] = {"created_at": ("ASC", ">"), "-created_at": ("DESC", "<")}
RUN_COLUMNS = (
    "id, workflow, version, namespace, state, args, kwargs, result, error, attributes,"
    " idempotency_key, parent_run_id, created_at, completed_at, wake_at, depth,"
    " continued_from, next_run_id, correlation_id, traceback, cancel_requested_at,"
    " cancel_reason, forked_from, fork_seq"
)

Key = tuple[datetime, str]
"""A row's place in the listing order: its ``created_at`` and run id."""


@dataclass(frozen=True)
class Listing:
    records: list[RunRecord]
    last_key: Key | None
    """The last row's key when more rows follow; ``None`` on the last page."""


def list_runs(
    conn: Connection, node: Node | None, order: str, limit: int, after: Key | None
) -> Listing:
    """One page of runs matching ``node``, in ``order``, after the key ``after``."""
    statement, params = list_statement(node, order, limit, after)
    rows = run(conn, statement, params).fetchall()
    records = [_run_record(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Listing(records, (records[-1].created_at, records[-1].run_id) if more else None)


def list_statement(
    node: Node | None, order: str, limit: int, after: Key | None
) -> tuple[str, dict[str, Any]]:
    """The SELECT for one page (one row more than ``limit``, to tell if more follow)."""
    sql = Compiler(COLUMNS)
    conditions = [sql.condition(node)] if node is not None else []
    direction, beyond = ORDERS[order]
    if after is not None:
        key = f"({sql.bind(after[0])}, {sql.bind(after[1])})"
        conditions.append(f"(created_at, id) {beyond} {key}")
    statement = (
        f"SELECT {RUN_COLUMNS} FROM cx_runs{where(conditions)}"  # noqa: S608 (fixed text)
        f" ORDER BY created_at {direction}, id {direction} LIMIT {sql.bind(limit + 1)}"
    )
    return statement, sql.params


def count_runs(
    conn: Connection, node: Node | None, group_by: Sequence[str]
) -> dict[tuple[Any, ...], int]:
    """How many runs match ``node``, per distinct value of the ``group_by`` columns."""
    sql = Compiler(COLUMNS)
    filtered = where([sql.condition(node)] if node is not None else [])
    columns = [GROUPS[name] for name in group_by]
    select = ", ".join([*columns, "count(*)"])
    grouping = f" GROUP BY {', '.join(columns)}" if columns else ""
    statement = f"SELECT {select} FROM cx_runs{filtered}{grouping}"  # noqa: S608 (fixed text)
    rows = run(conn, statement, sql.params).fetchall()
    counts: dict[tuple[Any, ...], int] = {tuple(row[:-1]): int(row[-1]) for row in rows}
    return counts if columns or counts else {(): 0}


def freeze(conn: Connection, node: Node, job_id: str) -> int:
    """Copy the ids of the runs matching ``node`` into the job's items, in the
    caller's transaction; how many. The one statement that selects a job's runs
    (``bulk`` ANDs the app's scope into ``node``)."""
    sql = Compiler(COLUMNS)
    job = sql.bind(job_id)
    statement = (
        f"INSERT INTO cx_job_items (job_id, run_id) SELECT {job}, id"  # noqa: S608 (fixed text)
        f" FROM cx_runs{where([sql.condition(node)])}"
    )
    return run(conn, statement, sql.params).rowcount


def count_capped(conn: Connection, node: Node | None, cap: int) -> int:
    """How many runs match ``node``, counting no further than ``cap``: an index read
    that stops early, where an exact count on a big table reads every run."""
    sql = Compiler(COLUMNS)
    filtered = where([sql.condition(node)] if node is not None else [])
    limit = sql.bind(cap)
    statement = f"SELECT count(*) FROM (SELECT 1 FROM cx_runs{filtered} LIMIT {limit}) AS c"  # noqa: S608 (fixed text)
    return int(run(conn, statement, sql.params).scalar_one())


def count_recent(
    conn: Connection, node: Node | None, group_by: Sequence[str], cap: int
) -> dict[tuple[Any, ...], int]:
    """``count_runs`` over only the newest ``cap`` matching runs (newest by the
    ``created_at`` index), for an overview that must not read a whole big table."""
    sql = Compiler(COLUMNS)
    filtered = where([sql.condition(node)] if node is not None else [])
    columns = [GROUPS[name] for name in group_by]
    limit = sql.bind(cap)
    inner = (
        f"SELECT {', '.join(columns)} FROM cx_runs{filtered} ORDER BY created_at DESC LIMIT {limit}"  # noqa: S608 (fixed text)
    )
    statement = f"SELECT *, count(*) FROM ({inner}) AS c GROUP BY {', '.join(columns)}"  # noqa: S608 (fixed text)
    rows = run(conn, statement, sql.params).fetchall()
    return {tuple(row[:-1]): int(row[-1]) for row in rows}
