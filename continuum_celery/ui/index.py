"""The runs index: the query box, quick filters with counts, a keyset page, views.

The effective query is the user's text AND'ed with the quick filters, each value
quoted for the query language, so a filter never changes what the text means.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import progress, saved
from ..core import Continuum
from ..errors import InvalidQuery
from ..query import parse

STATES = ("running", "blocked", "completed", "failed", "cancelled", "terminated", "continued")
PAGE = 25
MAX_PAGE = 200
OVERVIEW = 5
CAP = 10_000
"""Counts on the index stop here ("10000+"); workflow counts are over the newest CAP."""


def quote(value: str) -> str:
    """``value`` as a query-language string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'


def combine(q: str, state: str, workflow: str) -> str:
    parts = [f"({q})"] if q.strip() else []
    parts += [f"state = {quote(state)}"] if state else []
    parts += [f"workflow = {quote(workflow)}"] if workflow else []
    return " AND ".join(parts)


def index_values(
    cx: Continuum, q: str, state: str, workflow: str, view: str, cursor: str | None,
    limit: int = PAGE,
) -> dict[str, Any]:  # fmt: skip
    """Everything the index template shows; a bad query becomes ``query_error``."""
    if view and not q:
        q = saved.saved_view(cx, view).query
    values: dict[str, Any] = {
        "q": q, "state": state, "workflow": workflow, "view": view, "cursor": cursor,
        "limit": limit if limit != PAGE else None, "states": STATES, "runs": [],
        "views": saved.saved_views_all(cx), "now": datetime.now(UTC),
    }  # fmt: skip
    try:
        parse(q)
    except InvalidQuery as error:
        return values | {"query_error": error, "count": {}, "total": 0, "cap": CAP}
    effective = combine(q, state, workflow)
    values |= _page(cx, effective, cursor, limit) | _counts(cx, combine(q, "", workflow), q, state)
    if not (q or state or workflow or cursor):
        values["overview"] = {s: cx.list_runs(f"state = {quote(s)}", limit=OVERVIEW).runs
                              for s in ("blocked", "failed")}  # fmt: skip
    return values


def _page(cx: Continuum, query: str, cursor: str | None, limit: int) -> dict[str, Any]:
    page = cx.list_runs(query, limit=limit, cursor=cursor)
    return {"effective": query, "runs": page.runs, "next_cursor": page.next_cursor}


def state_counts(cx: Continuum, query: str) -> dict[str, int]:
    """Runs per state, each counted up to ``CAP``: seven index reads that stop early.
    (An exact count by state reads every run: 0.7 s on a million.)"""
    return {s: progress.count_capped(cx, combine(query, s, ""), CAP) for s in STATES}


def _counts(cx: Continuum, query: str, q: str, state: str) -> dict[str, Any]:
    workflows = progress.count_recent(cx, combine(q, state, ""), ("workflow",), CAP)
    return {"count": state_counts(cx, query), "total": progress.count_capped(cx, query, CAP),
            "cap": CAP, "workflows": sorted((k[0], n) for k, n in workflows.items())}  # fmt: skip
