"""``continuum-celery replay-check`` over many recorded runs: runs/s and peak memory.

Seeds N completed runs of ``bench.apps.replayed`` (one activity each, two journal
events) by set-based SQL, then runs the command in a subprocess, as CI would, and
reports its wall time and the child's peak RSS: flat memory is what paging buys.

    python -m bench.replay_check --runs 100000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.ops.database import bench_database
from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 50_000
RUNS = text(
    "INSERT INTO cx_runs (id, workflow, state, args, result, last_seq, created_at,"
    " completed_at) SELECT 'r-' || g, 'bench.one', 'completed', jsonb_build_array(g),"
    " to_jsonb(g), 2, now(), now() FROM generate_series(CAST(:first AS bigint),"
    " CAST(:last AS bigint)) g"
)
EVENTS = text(
    "INSERT INTO cx_events (run_id, seq, type, command_id, data) SELECT 'r-' || g, e.seq,"
    " e.type, 'activity:bench.step:0', e.data FROM generate_series(CAST(:first AS bigint),"
    " CAST(:last AS bigint)) g, LATERAL (VALUES (1, 'activity_scheduled',"
    " jsonb_build_object('activity', 'bench.step', 'attempt', 1, 'args',"
    " jsonb_build_array(g), 'kwargs', '{}'::jsonb)), (2, 'activity_completed',"
    " jsonb_build_object('activity', 'bench.step', 'attempt', 1, 'result', g)))"
    " AS e(seq, type, data)"
)


def seed(url: str, n: int) -> float:
    started = time.monotonic()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    for first in range(1, n + 1, CHUNK):
        with engine.begin() as conn:
            bounds = {"first": first, "last": min(first + CHUNK - 1, n)}
            conn.execute(RUNS, bounds)
            conn.execute(EVENTS, bounds)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.monotonic() - started


def check(url: str, page: int) -> tuple[float, str, int]:
    env = {**os.environ, "CONTINUUM_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    app = ["--app", "bench.apps.replayed:cx", "--workflow", "bench.one", "--page", str(page)]
    command = [sys.executable, "-m", "continuum_celery.cli", "replay-check", *app]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"replay-check exited {done.returncode}: {done.stderr.strip()}")
    return elapsed, done.stderr.strip(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--pg-server", default=os.environ.get(
        "CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/"))  # fmt: skip
    args = parser.parse_args()
    with bench_database(args.pg_server, keep=False) as url:
        migrate(Database(url))
        seeded = seed(url, args.runs)
        elapsed, summary, rss_kb = check(url, args.page)
    print(f"seeded {args.runs:,} runs in {seeded:.1f} s; {summary}")
    print(f"replay-check: {elapsed:.1f} s, {args.runs / elapsed:,.0f} runs/s, "
          f"peak RSS {rss_kb / 1024:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
