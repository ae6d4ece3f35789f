"""Retention at scale: upkeep ticks drain the expired runs one batch at a time.

Each tick is ``cx.upkeep()``, the whole pass a worker's upkeep loop runs (timers,
claims, publishes, wakeups, then one retention batch), so the time reported is a
real tick's. The drain stops at the first tick that deletes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from statistics import mean
from typing import Any

from sqlalchemy import text

from bench.metrics import percentile
from bench.ops.seed import COUNTS
from continuum_celery import Continuum

EXPIRED = text(
    "SELECT count(*) FROM cx_runs WHERE completed_at < now() - make_interval(secs => :age)"
    " AND state IN ('completed', 'failed', 'cancelled', 'terminated', 'continued')"
)
WINDOW = 20


def table_counts(cx: Continuum) -> dict[str, int]:
    with cx.db.engine.connect() as conn:
        runs, events, tasks, attempts = conn.execute(COUNTS).one()
    return {"runs": runs, "events": events, "tasks": tasks, "attempts": attempts}


def drain(cx: Continuum, max_ticks: int, log: Callable[[str], None]) -> list[tuple[float, int]]:
    """(seconds, runs deleted) per tick, until a tick deletes nothing."""
    ticks: list[tuple[float, int]] = []
    while len(ticks) < max_ticks:
        started = time.perf_counter()
        deleted = cx.upkeep().runs_deleted
        if not deleted:
            break
        ticks.append((time.perf_counter() - started, deleted))
        if len(ticks) % 100 == 0:
            log(f"{len(ticks)} ticks, {sum(n for _, n in ticks):,} runs deleted")
    return ticks


def _window(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(ms, 50), 2), "mean_ms": round(mean(ms), 2)}


def summarize(ticks: list[tuple[float, int]]) -> dict[str, Any]:
    """Tick time p50/max, deletes per second, and the first ticks against the last."""
    ms = [seconds * 1000 for seconds, _ in ticks]
    deleted = sum(n for _, n in ticks)
    elapsed = sum(seconds for seconds, _ in ticks)
    return {"ticks": len(ticks), "runs_deleted": deleted, "elapsed_s": round(elapsed, 2),
            "runs_deleted_per_s": round(deleted / elapsed, 1) if elapsed else 0.0,
            "tick_p50_ms": round(percentile(ms, 50), 2),
            "tick_p99_ms": round(percentile(ms, 99), 2), "tick_max_ms": round(max(ms), 2),
            f"first_{WINDOW}": _window(ms[:WINDOW]), f"last_{WINDOW}": _window(ms[-WINDOW:]),
            "tick_ms_by_tenth": _tenths(ms)}  # fmt: skip


def _tenths(ms: list[float]) -> list[float]:
    """Median tick time in each tenth of the drain: flat means bounded ticks."""
    size = max(1, len(ms) // 10)
    return [round(percentile(ms[i : i + size], 50), 2) for i in range(0, len(ms), size)][:10]


def measure_retention(
    cx: Continuum, age: float, max_ticks: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Drain, then check each run took exactly what it owns with it."""
    with cx.db.engine.connect() as conn:
        expired = int(conn.execute(EXPIRED, {"age": age}).scalar_one())
    before = table_counts(cx)
    result = summarize(drain(cx, max_ticks, log)) if expired else {"ticks": 0, "runs_deleted": 0}
    after = table_counts(cx)
    gone = {table: before[table] - after[table] for table in before}
    settings = {"retention_s": age, "batch": cx.sweeper.settings.batch}
    return {**settings, "load_average": os.getloadavg()[0], "expired_before": expired,
            **result, "rows_deleted": gone, "rows_left": after}  # fmt: skip
