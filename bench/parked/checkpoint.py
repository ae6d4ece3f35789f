"""What a checkpoint measures besides upkeep: the idle background and per-run costs.

The idle window shows what parked runs cost when nothing happens: beat's own upkeep
ticks (read from the worker logs) and the commits and CPU they take.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.metrics import Delta, Probe, Snapshot, percentile, settle
from bench.parked.sql_counter import read_from
from bench.workers import Workers

_UPKEEP_LINE = re.compile(rb"Task continuum\.upkeep\[[^\]]+\] succeeded in ([0-9.eE+-]+)s")


def analyze(url: str) -> None:
    """Fresh planner statistics, so upkeep is measured both as found and after them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE cx_runs, cx_events, cx_tasks, cx_waits, cx_signals")


def background(
    probe: Probe,
    workers: Workers,
    seconds: float,
    database: str,
    at_start: Callable[[Snapshot], None],
) -> dict[str, Any]:
    """Idle workers for ``seconds``: what beat's upkeep costs.

    ``at_start`` gets the window's first snapshot, which also closes the counters of
    the stage before the checkpoint.
    """
    settle()
    offsets = [_size(p.log_path) for p in workers.procs]
    a = probe.snapshot()
    at_start(a)
    time.sleep(seconds)
    d = Probe.delta(a, probe.snapshot())
    ticks = [
        1000 * float(m.group(1))
        for proc, offset in zip(workers.procs, offsets, strict=True)
        for m in _UPKEEP_LINE.finditer(read_from(proc.log_path, offset))
    ]
    return _idle_rates(d, database, ticks)


def _idle_rates(d: Delta, database: str, ticks: list[float]) -> dict[str, Any]:
    s = d.seconds
    out: dict[str, Any] = {
        "window_s": s,
        "commits_per_s": d.commits.get(database, 0) / s,
        "rollbacks_per_s": d.rollbacks.get(database, 0) / s,
        "sql_statements_per_s": d.statements / s,
        "published_per_s": d.published / s,
        "worker_cpu_ms_per_s": 1000 * d.cpu.get("workers", 0.0) / s,
        "postgres_cpu_ms_per_s": 1000 * d.cpu.get("postgres", 0.0) / s,
        "beat_upkeep_ticks": len(ticks),
        "beat_upkeep_p50_ms": percentile(ticks, 50) if ticks else None,
        "beat_upkeep_max_ms": max(ticks) if ticks else None,
    }
    if d.pg_restarted:
        out["disturbed"] = "the Postgres server restarted during the window"
    return out


def per_unit(delta: Delta, database: str, units: int, unit: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"commits_per_{unit}": delta.commits.get(database, 0) / units,
        f"write_xacts_per_{unit}": delta.xids / units,
        f"sql_statements_per_{unit}": delta.statements / units,
        f"msgs_per_{unit}": delta.published / units,
        f"worker_cpu_ms_per_{unit}": 1000 * delta.cpu.get("workers", 0.0) / units,
        f"bench_cpu_ms_per_{unit}": 1000 * delta.cpu.get("bench_process", 0.0) / units,
        f"postgres_cpu_ms_per_{unit}": 1000 * delta.cpu.get("postgres", 0.0) / units,
    }
    if delta.pg_restarted:
        out["disturbed"] = "the Postgres server restarted during the window"
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
