"""Listing and counting runs: the query AST compiled to parameterized SQL.

Every value from a query travels as a bind parameter (attribute keys too); column
names and operators come only from the fixed tables below, so no text a caller
writes ever becomes SQL. Pages are keyset-paged on ``(created_at, id)``: a run
started between two pages sorts before the first (newest first) or after the last
(oldest first), so it neither repeats nor shifts rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from ..query import (
    ATTRIBUTES,
    And,
    Compare,
    Field,
    In,
    IsNull,
    Node,
    Not,
    Or,
    RelativeTime,
    StartsWith,
    Value,
)
from .records import RunRecord
from .store import run_record as _run_record

COLUMNS: Mapping[str, str] = {
    "workflow": "workflow",
    "state": "state",
    "namespace": "namespace",
    "run_id": "id",
    "parent_run_id": "parent_run_id",
    "created_at": "created_at",
    "ended_at": "completed_at",
    # The latest moment the run's row records: no column, so no write pays for it.
    "updated_at": "GREATEST(created_at, cancel_requested_at, completed_at)",
}
OPERATORS: Mapping[str, str] = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
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
    rows = conn.execute(text(statement), params).fetchall()
    records = [_run_record(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Listing(records, (records[-1].created_at, records[-1].run_id) if more else None)


def list_statement(
    node: Node | None, order: str, limit: int, after: Key | None
) -> tuple[str, dict[str, Any]]:
    """The SELECT for one page (one row more than ``limit``, to tell if more follow)."""
    sql = _Compiler()
    where = [sql.condition(node)] if node is not None else []
    direction, beyond = ORDERS[order]
    if after is not None:
        where.append(f"(created_at, id) {beyond} ({sql.bind(after[0])}, {sql.bind(after[1])})")
    statement = (
        f"SELECT {RUN_COLUMNS} FROM cx_runs{_where(where)}"  # noqa: S608 (fixed text)
        f" ORDER BY created_at {direction}, id {direction} LIMIT {sql.bind(limit + 1)}"
    )
    return statement, sql.params


def count_runs(
    conn: Connection, node: Node | None, group_by: Sequence[str]
) -> dict[tuple[Any, ...], int]:
    """How many runs match ``node``, per distinct value of the ``group_by`` columns."""
    sql = _Compiler()
    where = _where([sql.condition(node)] if node is not None else [])
    columns = [GROUPS[name] for name in group_by]
    select = ", ".join([*columns, "count(*)"])
    grouping = f" GROUP BY {', '.join(columns)}" if columns else ""
    statement = f"SELECT {select} FROM cx_runs{where}{grouping}"  # noqa: S608 (fixed text)
    rows = conn.execute(text(statement), sql.params).fetchall()
    counts = {tuple(row[:-1]): int(row[-1]) for row in rows}
    return counts if columns or counts else {(): 0}


def freeze(conn: Connection, node: Node, job_id: str) -> int:
    """Copy the ids of the runs matching ``node`` into the job's items, in the
    caller's transaction; how many. The one statement that selects a job's runs
    (a scope filter, say the workflows an app registers, belongs here)."""
    sql = _Compiler()
    where = _where([sql.condition(node)])
    job = sql.bind(job_id)
    statement = f"INSERT INTO cx_job_items (job_id, run_id) SELECT {job}, id FROM cx_runs{where}"  # noqa: S608 (fixed text)
    return conn.execute(text(statement), sql.params).rowcount


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


class _Compiler:
    """Turns nodes into SQL text with ``:pN`` placeholders, collecting the values."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def condition(self, node: Node) -> str:
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.condition(item) for item in node.items) + ")"
        if isinstance(node, Not):
            # COALESCE: NOT of a comparison with a missing value is true, not unknown.
            return f"NOT COALESCE({self.condition(node.item)}, false)"
        if node.field.name == ATTRIBUTES:
            return self.attribute(node)
        return self.column(node)

    def column(self, node: Compare | In | StartsWith | IsNull) -> str:
        column = COLUMNS[node.field.name]
        if isinstance(node, Compare):
            return f"{column} {OPERATORS[node.op]} {self.value(node.value)}"
        if isinstance(node, In):
            listed = ", ".join(self.value(v) for v in node.values)
            return f"{column} {'NOT IN' if node.negated else 'IN'} ({listed})"
        if isinstance(node, StartsWith):
            return f"{column} LIKE {self.bind(_like_prefix(node.prefix))} ESCAPE '\\'"
        return f"{column} IS {'NOT NULL' if node.negated else 'NULL'}"

    def value(self, value: Value) -> str:
        if isinstance(value, RelativeTime):
            # now() is the statement's transaction start: stable, so indexes apply.
            return f"(now() + {self.bind(float(value.offset))} * interval '1 second')"
        return self.bind(value)

    def attribute(self, node: Compare | In | StartsWith | IsNull) -> str:
        key = node.field.key
        assert key is not None
        if isinstance(node, Compare):
            return self.attribute_compare(node.field, node.op, node.value)
        if isinstance(node, In):
            either = self.contains_any(key, node.values)
            return f"({self.present(key)} AND NOT {either})" if node.negated else either
        if isinstance(node, StartsWith):
            typed = self.typed(key, "")
            like = self.bind(_like_prefix(node.prefix))
            return f"({typed} AND attributes ->> {self.bind(key)} LIKE {like} ESCAPE '\\')"
        missing = f"COALESCE(attributes -> {self.bind(key)}, CAST('null' AS jsonb))"
        return f"{missing} {'<>' if node.negated else '='} CAST('null' AS jsonb)"

    def attribute_compare(self, field: Field, op: str, value: Value) -> str:
        key = field.key
        assert key is not None
        if op == "=":
            return self.contains(key, value)  # containment: the GIN index applies
        if op == "!=":
            return f"({self.present(key)} AND NOT {self.contains(key, value)})"
        typed = self.typed(key, value)
        item = f"attributes -> {self.bind(key)}"
        return f"({typed} AND {item} {OPERATORS[op]} CAST({self.bind(json.dumps(value))} AS jsonb))"

    def contains(self, key: str, value: Value) -> str:
        return f"attributes @> CAST({self.bind(json.dumps({key: value}))} AS jsonb)"

    def contains_any(self, key: str, values: tuple[Value, ...]) -> str:
        """One array, not ORs: Postgres serves ``@> ANY`` with one bitmap index scan."""
        listed = ", ".join(f"CAST({self.bind(json.dumps({key: v}))} AS jsonb)" for v in values)
        return f"attributes @> ANY (ARRAY[{listed}])"

    def present(self, key: str) -> str:
        """Holds a value: IS NULL counts a JSON null as missing, and so does this."""
        return f"jsonb_typeof(attributes -> {self.bind(key)}) <> 'null'"

    def typed(self, key: str, value: Value) -> str:
        """Orderings compare like with like: jsonb orders across types by type."""
        return f"jsonb_typeof(attributes -> {self.bind(key)}) = {self.bind(_json_type(value))}"


def _json_type(value: Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally, then anything."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
