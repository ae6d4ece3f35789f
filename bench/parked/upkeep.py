"""One upkeep tick, timed and counted from the bench process, and its query plans.

Upkeep is the work that grows with the number of parked runs if anything does, so
each checkpoint times it and explains the queries it runs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from bench.metrics import percentile
from bench.parked.sql_counter import SqlCounter
from continuum_celery.journal import sweep

SCOPE = {"scope": "default"}
"""The bench app's scope (``Continuum(scope=)`` unset): upkeep reads that scope only."""
UPKEEP_QUERIES: dict[str, tuple[Any, dict[str, Any]]] = {
    "due_waits": (sweep.DUE_WAITS, {"limit": 500, **SCOPE}),
    "expired_claims": (sweep.EXPIRED_CLAIMS, {"grace": 30.0, "limit": 500, **SCOPE}),
    "tasks_to_publish": (sweep.TASKS_TO_PUBLISH,
                         {"stale": 30.0, "cap": 300.0, "limit": 500, **SCOPE}),
    "runs_to_wake": (sweep.RUNS_TO_WAKE, {"stale": 5.0, "cap": 300.0, "limit": 500, **SCOPE}),
}  # fmt: skip


def upkeep_ticks(cx: Any, sql: SqlCounter, ticks: int) -> dict[str, Any]:
    """Time ``cx.upkeep()`` (one sweep) from the bench process, ``ticks`` times."""
    cx.upkeep()  # connections are pooled from here on
    sql.take()
    durations = []
    work: Counter[str] = Counter()
    for _ in range(ticks):
        t = time.perf_counter()
        report = cx.upkeep()
        durations.append(1000 * (time.perf_counter() - t))
        work.update({k: v for k, v in vars(report).items() if v})
    counts = sql.take()
    return {
        "ticks": ticks,
        "p50_ms": percentile(durations, 50),
        "p90_ms": percentile(durations, 90),
        "min_ms": min(durations),
        "max_ms": max(durations),
        "sql_statements_per_tick": counts["statements"] / ticks,
        "commits_per_tick": counts["commits"] / ticks,
        "rollbacks_per_tick": counts["rollbacks"] / ticks,
        "pool_checkouts_per_tick": counts["checkouts"] / ticks,
        "pool_pre_ping": sql.pre_ping,
        # Statements, COMMITs, ROLLBACKs (and pre-pings): one round trip each.
        "round_trips_per_tick": counts["round_trips"] / ticks,
        "work_done": dict(work),
    }


def upkeep_plans(engine: Any) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of each upkeep query, rolled back."""
    plans = {}
    for name, (query, params) in UPKEEP_QUERIES.items():
        with engine.connect() as conn:
            raw = conn.execute(
                text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query.text), params
            ).scalar_one()
            conn.rollback()
        plans[name] = {
            "execution_ms": raw[0].get("Execution Time"),
            "scans": list(_scans(raw[0]["Plan"])),
        }
    return plans


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    keys = ("Node Type", "Relation Name", "Index Name", "Actual Rows", "Actual Loops",
            "Rows Removed by Filter", "Heap Fetches", "Shared Hit Blocks",
            "Shared Read Blocks", "Filter")  # fmt: skip
    if "Scan" in node.get("Node Type", ""):
        yield {k: node[k] for k in keys if k in node}
    for child in node.get("Plans", []):
        yield from _scans(child)
