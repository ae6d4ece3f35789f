"""Which journal runs a replay check reads: the query language, plus two shorthands.

``workflow`` is ``workflow = "<name>"`` and ``since`` is ``created_at > -<age>``
(``7d``, ``-7d`` or an ISO time), both ANDed with the query. Runs are read a page
at a time, oldest first, each page one snapshot (``journal/export.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from ..export import check_count
from ..journal.export import runs_with_history
from ..listing import MAX_LIMIT
from ..query import And, Compare, Field, Node, RelativeTime, parse
from ..query.times import parse_time
from .recordings import Recording, from_record

if TYPE_CHECKING:
    from ..core import Continuum


def journal_recordings(
    cx: Continuum, query: str, workflow: str | None, since: str | None, limit: int | None,
    page: int,
) -> Iterator[Recording]:  # fmt: skip
    """Checked now, before the first run is read, so a mistake fails at the call."""
    check_count(page, "page", MAX_LIMIT)
    if limit is not None:
        check_count(limit, "limit", None)
    node = selection(query, workflow, since)
    cx.schema.check()
    return (from_record(record, events) for record, events in
            runs_with_history(cx.db, node, page, limit))  # fmt: skip


def selection(query: str, workflow: str | None, since: str | None) -> Node | None:
    """The query's AST with the shorthands ANDed in."""
    parts = [node for node in [parse(query)] if node is not None]
    if workflow is not None:
        parts.append(Compare(Field("workflow"), "=", workflow))
    if since is not None:
        parts.append(Compare(Field("created_at"), ">", age(since)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def age(since: str) -> RelativeTime | datetime:
    """``7d`` and ``-7d`` both mean seven days ago; an ISO time is taken as is."""
    value = parse_time(since, 0)
    if isinstance(value, RelativeTime) and value.offset > 0:
        return RelativeTime(-value.offset)
    return value
