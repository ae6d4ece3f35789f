"""What firing many schedules costs upkeep (``python -m bench.schedules -n 10000``).

Creates N every-minute schedules in a fresh database, then times upkeep passes
(``fire_schedules``, batches of 500, as the upkeep leader runs them) at the first
tick, when all N are due together, and one pass when none is due (found through the
index on ``next_fire_at``: it must cost the same for 10 or 10,000 schedules).
Wakeups are counted, not published: this measures the database side only. The
tick-to-start lag with real workers is printed by
``tests/integration/test_schedule_workers.py``.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from datetime import datetime, timedelta

import psycopg
from celery import Celery
from psycopg import sql
from sqlalchemy import text

from continuum_celery import Continuum
from continuum_celery.journal.firing import ScheduleFiring
from continuum_celery.runtime.schedules import fire_schedules

COPIES = (
    "INSERT INTO cx_schedules (id, workflow, specs, tz, overlap, catchup_window, next_tick,"
    " next_fire_at) SELECT 's' || lpad(i::text, 5, '0'), workflow, specs, tz, overlap,"
    " catchup_window, next_tick, next_fire_at FROM cx_schedules, generate_series(1, :n - 1) i"
    " WHERE id = 's00000'"
)


class Counting:
    """A publisher that only counts wakeups."""

    def __init__(self) -> None:
        self.advances = 0

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advances += 1

    def publish_activity(self, message: object) -> None:  # pragma: no cover - unused
        raise NotImplementedError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--schedules", type=int, default=10_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/")
    args = parser.parse_args()
    name = f"cx_bench_sched_{secrets.token_hex(4)}"
    with psycopg.connect(args.server + "postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        run(args.server + name, args.schedules)
    finally:
        with psycopg.connect(args.server + "postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def run(url: str, n: int) -> None:
    cx = Continuum(Celery("bench-schedules", set_as_current=False), database_url=url)
    cx.migrate()
    cx.schedules.create("s00000", "bench.noop", "* * * * *", overlap="allow_all")
    with cx.db.engine.begin() as conn:  # the other N - 1 as copies of the first
        conn.execute(text(COPIES), {"n": n})
    first = cx.schedules.describe("s00000").next_fire_times[0]
    firing, publisher = ScheduleFiring(cx.db), Counting()
    early = first - timedelta(seconds=1)
    _timed(lambda: fire_schedules(firing, publisher, early))  # connections made
    idle = _timed(lambda: fire_schedules(firing, publisher, early))
    print(f"idle pass (nothing due): {idle * 1000:.1f} ms")
    passes = []
    while not passes or publisher.advances < n:
        passes.append(_timed(lambda: fire_schedules(firing, publisher, first)))
    total = sum(passes)
    p50, worst = statistics.median(passes) * 1000, max(passes) * 1000
    print(
        f"all due at once: {len(passes)} passes of <= 500, {total:.2f}s in all, "
        f"{total / n * 1000:.2f} ms per schedule, pass p50 {p50:.0f} ms, max {worst:.0f} ms"
    )
    print(f"runs started: {publisher.advances}; now {datetime.now().isoformat()}")
    cx.db.dispose()


def _timed(action: object) -> float:
    began = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
