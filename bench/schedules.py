"""Tick-to-start lag of many schedules due at once (``python -m bench.schedules -n 10000``).

Creates N schedules on one spec (default every minute) in a fresh database, waits
in real time for their next tick, then runs upkeep's schedule step as the upkeep
leader does (``fire_schedules`` on the database clock, batches of 500, right after
the tick's fire time) until every tick has started its run. Wakeups go to a Redis
queue of the bench's own (deleted afterwards), through the worker's publisher.

Reported, per run, against its ``scheduled_time``: when its row was inserted
(``created_at``), when its pass committed, and when its wakeup was published; plus
the per-pass cost and one pass when nothing is due (found through the index on
``next_fire_at``: the same for 10 or 10,000 schedules). The lag until a worker
starts the run is printed by ``tests/integration/test_schedule_workers.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery
from psycopg import sql
from sqlalchemy import text

from bench.metrics import percentile
from continuum_celery import Continuum
from continuum_celery.celery_app.tasks import CeleryPublisher
from continuum_celery.journal.firing import ScheduleFiring
from continuum_celery.runtime.schedules import BATCH, LANES, fire_schedules
from continuum_celery.runtime.transport import Publisher, wake_all

COPIES = (
    "INSERT INTO cx_schedules (id, workflow, specs, tz, overlap, catchup_window, next_tick,"
    " next_fire_at) SELECT 's' || lpad(i::text, 5, '0'), workflow, specs, tz, overlap,"
    " catchup_window, next_tick, next_fire_at FROM cx_schedules, generate_series(1, :n - 1) i"
    " WHERE id = 's00000'"
)
MOVE_CURSORS = "UPDATE cx_schedules SET next_tick = :tick, next_fire_at = :tick"
CREATED_LAGS = (
    "SELECT extract(epoch FROM created_at - (attributes->>'scheduled_time')::timestamptz)"
    " FROM cx_runs"
)
LEAD = 3.0
"""Seconds the measured tick must be ahead once the schedules exist."""


class Timed:
    """The worker's publisher (or none), noting when each wakeup went out."""

    def __init__(self, publisher: Publisher | None) -> None:
        self.publisher = publisher
        self.sent: list[float] = []

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        if self.publisher is not None:
            self.publisher.publish_advance(run_id, countdown)
        self.sent.append(time.time())

    def publish_advances(self, run_ids: list[str]) -> None:
        if self.publisher is not None:
            wake_all(self.publisher, run_ids)
        self.sent += [time.time()] * len(run_ids)

    def publish_activity(self, message: Any) -> None:  # pragma: no cover - unused
        raise NotImplementedError


class Committed(ScheduleFiring):
    """Upkeep's firing, noting when each pass committed and how many runs it woke."""

    passes: list[tuple[float, float, int]]

    def fire_pass(self, now: datetime | None, batch: int) -> tuple[list[str], bool]:
        began = time.time()
        woken, full = super().fire_pass(now, batch)
        self.passes.append((began, time.time(), len(woken)))
        return woken, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--schedules", type=int, default=10_000)
    parser.add_argument("--spec", default="* * * * *", help="every schedule's spec")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-publish", action="store_true", help="count wakeups only")
    parser.add_argument("--lanes", type=int, default=LANES, help="passes fired side by side")
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    name = f"cx_bench_sched_{secrets.token_hex(4)}"
    with psycopg.connect(args.server + "postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        results = run(args.server + name, args)
    finally:
        with psycopg.connect(args.server + "postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    report(results)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    queue = f"cx-bench-schedules-{secrets.token_hex(4)}"
    app = Celery("bench-schedules", broker=args.broker, set_as_current=False)
    app.conf.task_default_queue = queue
    cx = Continuum(app, database_url=url)
    try:
        tick = prepare(cx, args.schedules, args.spec)
        publisher = Timed(None if args.no_publish else CeleryPublisher(app))
        return {**measure(cx, tick, publisher, args.schedules, args.lanes), "spec": args.spec,
                "published": not args.no_publish}  # fmt: skip
    finally:
        cx.db.dispose()
        redis.Redis.from_url(args.broker).delete(queue)


def prepare(cx: Continuum, n: int, spec: str) -> datetime:
    """N schedules whose next tick is the same, at least ``LEAD`` seconds away."""
    cx.migrate()
    cx.schedules.create("s00000", "bench.noop", spec, overlap="allow_all")
    with cx.db.engine.begin() as conn:  # the other N - 1 as copies of the first
        conn.execute(text(COPIES), {"n": n})
    ticks = cx.schedules.describe("s00000", upcoming=10).next_fire_times
    tick = next(t for t in ticks if t.timestamp() > time.time() + LEAD)
    with cx.db.engine.begin() as conn:
        conn.execute(text(MOVE_CURSORS), {"tick": tick})
    return tick


def measure(cx: Continuum, tick: datetime, publisher: Timed, n: int,
            lanes: int) -> dict[str, Any]:  # fmt: skip
    firing = Committed(cx.db)
    firing.passes = []
    early = tick - timedelta(seconds=1)
    fire_schedules(firing, publisher, early)  # connections made
    idle = _timed(lambda: fire_schedules(firing, publisher, early))
    firing.passes = []
    time.sleep(max(tick.timestamp() - time.time() + 0.002, 0))  # as the leader sleeps
    cpu = time.process_time()
    while len(publisher.sent) < n:
        fire_schedules(firing, publisher, lanes=lanes)
    cpu = time.process_time() - cpu  # this process' CPU: steadier than wall on a busy box
    return {**_results(cx, tick, firing.passes, publisher.sent, idle, n),
            "lanes": lanes, "cpu_ms_per_schedule": cpu / n * 1000}  # fmt: skip


def _results(cx: Continuum, tick: datetime, passes: list[tuple[float, float, int]],
             sent: list[float], idle: float, n: int) -> dict[str, Any]:  # fmt: skip
    with cx.db.engine.connect() as conn:
        created = [float(lag) for (lag,) in conn.execute(text(CREATED_LAGS))]
    committed = [at - tick.timestamp() for _, at, woken in passes for _ in range(woken)]
    durations = [at - before for before, at, _ in passes]
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "schedules": n, "batch": BATCH, "runs": len(created), "passes": len(passes),
        "idle_pass_ms": idle * 1000,
        "pass_ms": {"p50": statistics.median(durations) * 1000,
                    "max": max(durations) * 1000},
        "ms_per_schedule": sum(durations) / n * 1000,
        "lag_s": {name: _spread(lags) for name, lags in (
            ("created", created), ("committed", committed),
            ("published", [at - tick.timestamp() for at in sent]))},
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
                    "python": platform.python_version()},
    }  # fmt: skip


def _spread(lags: list[float]) -> dict[str, float]:
    return {"p50": percentile(lags, 50), "p99": percentile(lags, 99), "max": max(lags)}


def report(results: dict[str, Any]) -> None:
    n, lag = results["schedules"], results["lag_s"]
    print(
        f"{n} schedules on {results['spec']!r}, all due on the same tick; {results['runs']} runs"
        f" started in {results['passes']} passes of <= {results['batch']} on {results['lanes']}"
        " lanes"
    )
    print(f"idle pass (nothing due): {results['idle_pass_ms']:.1f} ms")
    print(
        f"pass p50 {results['pass_ms']['p50']:.0f} ms, max {results['pass_ms']['max']:.0f} ms;"
        f" {results['ms_per_schedule']:.3f} ms per schedule"
        f" ({results['cpu_ms_per_schedule']:.3f} ms of this process' CPU)"
    )
    for name, spread in lag.items():
        print(f"tick-to-{name} lag: p50 {spread['p50']:.3f}s  p99 {spread['p99']:.3f}s  "
              f"max {spread['max']:.3f}s")  # fmt: skip


def _timed(action: Any) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
