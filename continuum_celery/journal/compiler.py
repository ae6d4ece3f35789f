"""The query AST compiled to a parameterized SQL condition, over a field map.

One compiler serves every place the query language reaches: runs (``listing.py``)
and audit entries (``audit.py``) differ only in the map from field names to column
expressions and in where the run's attributes are. Every value from a query
travels as a bind parameter (attribute keys too); column expressions and operators
come only from fixed tables, so no text a caller writes ever becomes SQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, CursorResult, text

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

OPERATORS: Mapping[str, str] = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def run(conn: Connection, statement: str, params: dict[str, Any]) -> CursorResult[Any]:
    """Run a statement this module's compiler wrote (fixed text, values bound)."""
    return conn.execute(text(statement), params)


def where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


class Compiler:
    """Turns nodes into SQL text with ``:pN`` placeholders, collecting the values.

    ``columns`` maps each field a query may name to its column expression;
    ``attributes`` is the run's attributes column as the statement spells it.
    """

    def __init__(self, columns: Mapping[str, str], attributes: str = "attributes") -> None:
        self.params: dict[str, Any] = {}
        self.columns, self.attributes = columns, attributes

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
        column = self.columns[node.field.name]
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
            return f"({typed} AND {self.attributes} ->> {self.bind(key)} LIKE {like} ESCAPE '\\')"
        missing = f"COALESCE({self.attributes} -> {self.bind(key)}, CAST('null' AS jsonb))"
        return f"{missing} {'<>' if node.negated else '='} CAST('null' AS jsonb)"

    def attribute_compare(self, field: Field, op: str, value: Value) -> str:
        key = field.key
        assert key is not None
        if op == "=":
            return self.contains(key, value)  # containment: the GIN index applies
        if op == "!=":
            return f"({self.present(key)} AND NOT {self.contains(key, value)})"
        typed = self.typed(key, value)
        item = f"{self.attributes} -> {self.bind(key)}"
        return f"({typed} AND {item} {OPERATORS[op]} CAST({self.bind(json.dumps(value))} AS jsonb))"

    def contains(self, key: str, value: Value) -> str:
        return f"{self.attributes} @> CAST({self.bind(json.dumps({key: value}))} AS jsonb)"

    def contains_any(self, key: str, values: tuple[Value, ...]) -> str:
        """One array, not ORs: Postgres serves ``@> ANY`` with one bitmap index scan."""
        listed = ", ".join(f"CAST({self.bind(json.dumps({key: v}))} AS jsonb)" for v in values)
        return f"{self.attributes} @> ANY (ARRAY[{listed}])"

    def present(self, key: str) -> str:
        """Holds a value: IS NULL counts a JSON null as missing, and so does this."""
        return f"jsonb_typeof({self.attributes} -> {self.bind(key)}) <> 'null'"

    def typed(self, key: str, value: Value) -> str:
        """Orderings compare like with like: jsonb orders across types by type."""
        kind = f"jsonb_typeof({self.attributes} -> {self.bind(key)})"
        return f"{kind} = {self.bind(_json_type(value))}"


def _json_type(value: Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally, then anything."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
