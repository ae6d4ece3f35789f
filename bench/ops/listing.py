"""Timing ``list_runs`` (first page and the next) and ``count_runs``, with plans."""

from __future__ import annotations

import os
import re
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
COUNTS: tuple[tuple[str, tuple[str, ...]], ...] = (("", ("state",)), ('state = "failed"', ()))
LIMIT = 50
EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


def timed(call: Callable[[], object], calls: int) -> dict[str, Any]:
    """p50 / p99 / max milliseconds of ``calls`` calls, after one untimed call."""
    call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "calls": calls,
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
    }


def explain(cx: Continuum, query: str, cursor: str | None) -> list[str]:
    """EXPLAIN ANALYZE of the SELECT ``list_runs`` sends for this page."""
    after = decode_cursor(cursor, query, "-created_at") if cursor else None
    statement, params = list_statement(parse(query), "-created_at", LIMIT, after)
    with cx.db.engine.connect() as conn:
        rows = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement), params)
        return [str(row[0]) for row in rows]


def server_ms(plan: list[str]) -> float:
    """Postgres' own time for the statement, without the client round trip."""
    found = [float(m.group(1)) for line in plan if (m := EXECUTION.search(line))]
    return found[0] if found else float("nan")


def page(cx: Continuum, query: str, cursor: str | None, calls: int) -> dict[str, Any]:
    """One page: rows, API timings, and the plan with Postgres' execution time."""
    runs = cx.list_runs(query, limit=LIMIT, cursor=cursor).runs
    timing = timed(lambda: cx.list_runs(query, limit=LIMIT, cursor=cursor), calls)
    plan = explain(cx, query, cursor)
    return {"rows": len(runs), **timing, "server_ms": server_ms(plan), "plan": plan}


def measure_query(cx: Continuum, query: str, calls: int) -> dict[str, Any]:
    """Page 1 and (when there is one) page 2 of ``query``, and the load they ran under."""
    cursor = cx.list_runs(query, limit=LIMIT).next_cursor
    result: dict[str, Any] = {"query": query, "load_average": os.getloadavg()[0],
              "page1": page(cx, query, None, calls)}  # fmt: skip
    if cursor is not None:
        result["page2"] = page(cx, query, cursor, calls)
    return result


def measure_counts(cx: Continuum, calls: int) -> list[dict[str, Any]]:
    """``count_runs``: the whole table by state, and one state."""
    return [count(cx, query, groups, calls) for query, groups in COUNTS]


def count(cx: Continuum, query: str, groups: tuple[str, ...], calls: int) -> dict[str, Any]:
    counts = cx.count_runs(query, group_by=groups)
    timing = timed(lambda: cx.count_runs(query, group_by=groups), calls)
    rows = {"/".join(map(str, key)) or "all": n for key, n in counts.items()}
    return {"query": query, "group_by": list(groups), "counts": rows, **timing}
