"""The runs index: the query box, quick filters with counts, a keyset page, views.

The effective query is the user's text AND'ed with the quick filters, each value
quoted for the query language, so a filter never changes what the text means.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import saved
from ..core import Continuum
from ..errors import InvalidQuery
from ..query import parse

STATES = ("running", "blocked", "completed", "failed", "cancelled", "terminated", "continued")
PAGE = 25
MAX_PAGE = 200
OVERVIEW = 5


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
        return values | {"query_error": error, "count": {}, "total": 0}
    effective = combine(q, state, workflow)
    values |= _page(cx, effective, cursor, limit) | _counts(cx, combine(q, "", workflow), q, state)
    if not (q or state or workflow or cursor):
        values["overview"] = {s: cx.list_runs(f"state = {quote(s)}", limit=OVERVIEW).runs
                              for s in ("blocked", "failed")}  # fmt: skip
    return values


def _page(cx: Continuum, query: str, cursor: str | None, limit: int) -> dict[str, Any]:
    page = cx.list_runs(query, limit=limit, cursor=cursor)
    return {"effective": query, "runs": page.runs, "next_cursor": page.next_cursor}


def _counts(cx: Continuum, query: str, q: str, state: str) -> dict[str, Any]:
    by_state = {key[0]: n for key, n in cx.count_runs(query, group_by=("state",)).items()}
    workflows = cx.count_runs(combine(q, state, ""), group_by=("workflow",))
    return {"count": by_state, "total": sum(by_state.values()),
            "workflows": sorted((key[0], n) for key, n in workflows.items())}  # fmt: skip
