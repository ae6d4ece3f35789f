"""Measured windows: an idle window, then a loaded one, and what they add up to.

The idle window comes first so that background work (beat, pollers, other clients of
the same servers) can be subtracted from the loaded window's counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.metrics import Delta, Probe, percentile, settle


@dataclass
class Window:
    """One loaded run: counters before (idle and loaded) and after."""

    idle: Delta
    loaded: Delta
    t0: float
    t_end: float


def measure(
    probe: Probe, idle_seconds: float, submit: Callable[[], Any], wait: Callable[[Any], float]
) -> Window:
    """Idle window (background rate), then submit everything at once and wait.

    ``wait`` returns the wall-clock time the last unit of work completed.
    """
    settle()
    a = probe.snapshot()
    time.sleep(idle_seconds)
    b = probe.snapshot()
    t0 = time.time()
    handles = submit()
    t_end = wait(handles)
    settle()
    c = probe.snapshot()
    return Window(Probe.delta(a, b), Probe.delta(b, c), t0, t_end)


def deadline(units: int) -> float:
    """A monotonic deadline that grows with the work, so big runs are not cut short."""
    return time.monotonic() + 60 + 0.5 * units


def summarize_window(
    window: Window, steps: int, database: str | None, broker: bool
) -> dict[str, Any]:
    elapsed = window.t_end - window.t0
    out: dict[str, Any] = {"steps": steps, "elapsed_s": elapsed, "steps_per_s": steps / elapsed}
    out |= _commits(window, steps, database)
    out |= _messages(window, steps, broker)
    cpu = _cpu(window.loaded)
    out["cpu_s"] = cpu
    out["cpu_ms_per_step"] = {k: 1000 * v / steps for k, v in cpu.items()}
    if window.loaded.pg_restarted or window.idle.pg_restarted:
        out["disturbed"] = "the Postgres server restarted during the window"
    return out


def _commits(window: Window, steps: int, database: str | None) -> dict[str, Any]:
    loaded, idle = window.loaded, window.idle
    commits = loaded.commits.get(database, 0) if database else 0
    idle_commit_rate = (idle.commits.get(database, 0) / idle.seconds) if database else 0.0
    return {
        "pg_commits": commits,
        "pg_rollbacks": loaded.rollbacks.get(database, 0) if database else 0,
        "commits_per_step": commits / steps,
        "write_xacts_per_step": loaded.xids / steps,
        # Statements sent through SQLAlchemy by this run's processes (pings and COMMIT
        # are not included; they are in xact_commit).
        "sql_statements_per_step": loaded.statements / steps,
        "commits_per_step_net_of_idle": max(0.0, commits - idle_commit_rate * loaded.seconds)
        / steps,
        "idle_commits_per_s": idle_commit_rate,
        "window_s": loaded.seconds,
    }


def _messages(window: Window, steps: int, broker: bool) -> dict[str, Any]:
    loaded, idle = window.loaded, window.idle
    idle_publish_rate = idle.published / idle.seconds
    return {
        # Exact: this run's processes counted their own publishes (after_task_publish).
        "published": loaded.published if broker else None,
        "msgs_per_step": loaded.published / steps if broker else None,
        "msgs_per_step_net_of_idle": (
            max(0.0, loaded.published - idle_publish_rate * loaded.seconds) / steps
            if broker
            else None
        ),
        "idle_msgs_per_s": idle_publish_rate,
        # Broker side, server-wide: includes any other client of the same Redis server.
        "lpush_calls": loaded.pushes,
        "lpush_per_step": loaded.pushes / steps,
        "idle_lpush_per_s": idle.pushes / idle.seconds,
    }


def _cpu(loaded: Delta) -> dict[str, float]:
    """CPU seconds per process group, plus what the rest of the machine used."""
    cpu = dict(loaded.cpu)
    ours = sum(v for k, v in cpu.items() if k != "machine")
    cpu["other_processes"] = max(0.0, cpu.get("machine", 0.0) - ours)
    return cpu


def latency_summary(per_step_s: list[float], e2e_per_step_s: list[float]) -> dict[str, Any]:
    ms = [1000 * v for v in per_step_s]
    e2e = [1000 * v for v in e2e_per_step_s]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "e2e_per_step_p50_ms": percentile(e2e, 50),
        "e2e_per_step_p99_ms": percentile(e2e, 99),
    }
