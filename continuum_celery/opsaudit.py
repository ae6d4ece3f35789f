"""What ``cx.audit_log`` asks: a query in the run query language, over the fields
of the runs the entries are about and the entries' own (``action``, ``actor``,
``reason``, ``at``), with the keyword filters folded in as the same nodes.

Pure: the SQL is in ``journal/audit.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .query import AUDIT_FIELDS, And, Compare, Field, Node, parse


@dataclass(frozen=True)
class AuditFilters:
    """The keyword filters: each applies only when given."""

    since: datetime | None = None
    action: str | None = None
    actor: str | None = None


def audit_query(query: str, filters: AuditFilters) -> Node | None:
    """``query`` AND the filters, as one AST; ``None`` when nothing filters."""
    node = parse(query, AUDIT_FIELDS)
    items = [node] if node is not None else []
    items += _filter_nodes(filters)
    if len(items) < 2:
        return items[0] if items else None
    return And(tuple(items))


def _filter_nodes(filters: AuditFilters) -> list[Node]:
    since, action, actor = filters.since, filters.action, filters.actor
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        raise ValueError("since must be a timezone-aware datetime")
    nodes: list[Node] = [] if since is None else [Compare(Field("at"), ">=", since)]
    for name, value in (("action", action), ("actor", actor)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
        if value is not None:
            nodes.append(Compare(Field(name), "=", value))
    return nodes
