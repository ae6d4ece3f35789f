"""The query AST: a few frozen records the compiler in ``journal/listing.py`` walks.

Values are already typed here (a time field holds a ``datetime`` or a
``RelativeTime``), so the compiler never looks at query text again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

TEXT_FIELDS = frozenset({"workflow", "state", "namespace", "run_id", "parent_run_id", "scope"})
TIME_FIELDS = frozenset({"created_at", "updated_at", "ended_at"})
ATTRIBUTES = "attributes"
ENTRY_TEXT_FIELDS = frozenset({"action", "actor", "reason"})
ENTRY_TIME_FIELDS = frozenset({"at"})
"""The audit log's own fields: an entry's action, actor, reason and time (``at``)."""
ENTRY_FIELDS = ENTRY_TEXT_FIELDS | ENTRY_TIME_FIELDS | {"run_id"}
"""Fields an audit entry answers by itself, without its run's row."""


@dataclass(frozen=True)
class Fields:
    """Which fields a query may name. One language, two vocabularies: runs are
    listed by their own fields; audit entries by those of the run they are about,
    plus their own (``run_id`` is both, and means the same run)."""

    text: frozenset[str]
    time: frozenset[str]

    @property
    def names(self) -> list[str]:
        return [*sorted(self.text | self.time), f"{ATTRIBUTES}.<key>"]


RUN_FIELDS = Fields(TEXT_FIELDS, TIME_FIELDS)
AUDIT_FIELDS = Fields(TEXT_FIELDS | ENTRY_TEXT_FIELDS, TIME_FIELDS | ENTRY_TIME_FIELDS)


@dataclass(frozen=True)
class RelativeTime:
    """``offset`` seconds from the database clock when the query runs (``-15m`` is
    -900): resolved by Postgres, so every page of a listing agrees on "now"
    only as much as the database clock does."""

    offset: float


Value = str | int | float | bool | datetime | RelativeTime


@dataclass(frozen=True)
class Field:
    """A column (``name``) or, when ``name`` is ``attributes``, one search attribute."""

    name: str
    key: str | None = None

    @property
    def is_time(self) -> bool:
        return self.name in TIME_FIELDS or self.name in ENTRY_TIME_FIELDS


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: Value


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class StartsWith:
    field: Field
    prefix: str


@dataclass(frozen=True)
class IsNull:
    field: Field
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | In | StartsWith | IsNull | And | Or | Not


def field_names(node: Node) -> set[str]:
    """Every field ``node`` names (``attributes`` for any attribute)."""
    if isinstance(node, And | Or):
        return set().union(*(field_names(item) for item in node.items))
    if isinstance(node, Not):
        return field_names(node.item)
    return {node.field.name}
