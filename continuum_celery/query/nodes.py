"""The query AST: a few frozen records the compiler in ``journal/listing.py`` walks.

Values are already typed here (a time field holds a ``datetime`` or a
``RelativeTime``), so the compiler never looks at query text again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

TEXT_FIELDS = frozenset({"workflow", "state", "namespace", "run_id", "parent_run_id"})
TIME_FIELDS = frozenset({"created_at", "updated_at", "ended_at"})
ATTRIBUTES = "attributes"


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
        return self.name in TIME_FIELDS


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
