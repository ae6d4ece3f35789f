"""Timing ``list_runs`` (first page and the next) and ``count_runs``, with plans."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from bench.metrics import percentile
from continuum_celery import Continuum
from continuum_celery.journal.listing import list_statement
from continuum_celery.listing import decode_cursor
from continuum_celery.query import parse

QUERIES = (
    'state = "failed" AND attributes.customer = "c-42"',
    'workflow = "flow.7" AND created_at > "-1h"',
)
COUNTS = (("", ("state",)), ('state = "failed"', ()))
LIMIT = 50


def timed(call: Callable[[], object], calls: int) -> dict[str, Any]:
    """p50 / p99 / max milliseconds of ``calls`` calls, after one untimed call."""
    call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"calls": calls, "p50_ms": round(percentile(samples, 50), 3),
            "p99_ms": round(percentile(samples, 99), 3), "max_ms": round(max(samples), 3)}  # fmt: skip


def explain(cx: Continuum, query: str, cursor: str | None) -> list[str]:
    """EXPLAIN ANALYZE of the SELECT ``list_runs`` sends for this page."""
    after = decode_cursor(cursor, query, "-created_at") if cursor else None
    statement, params = list_statement(parse(query), "-created_at", LIMIT, after)
    with cx.db.engine.connect() as conn:
        rows = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement), params)
        return [str(row[0]) for row in rows]


def measure_query(cx: Continuum, query: str, calls: int) -> dict[str, Any]:
    """Page 1 and (when there is one) page 2 of ``query``: rows, timings, plans."""
    first = cx.list_runs(query, limit=LIMIT)
    cursor = first.next_cursor
    result: dict[str, Any] = {
        "query": query,
        "page1": {"rows": len(first.runs), **timed(lambda: cx.list_runs(query, limit=LIMIT), calls)},
        "plan_page1": explain(cx, query, None),
    }
    if cursor is not None:
        second = cx.list_runs(query, limit=LIMIT, cursor=cursor)
        page2 = timed(lambda: cx.list_runs(query, limit=LIMIT, cursor=cursor), calls)
        result["page2"] = {"rows": len(second.runs), **page2}
        result["plan_page2"] = explain(cx, query, cursor)
    return result


def measure_counts(cx: Continuum, calls: int) -> list[dict[str, Any]]:
    """``count_runs``: the whole table by state, and one state."""
    found = []
    for query, groups in COUNTS:
        counts = cx.count_runs(query, group_by=groups)
        timing = timed(lambda q=query, g=groups: cx.count_runs(q, group_by=g), calls)
        rows = {"/".join(map(str, key)) or "all": n for key, n in counts.items()}
        found.append({"query": query, "group_by": list(groups), "counts": rows, **timing})
    return found
