"""``python -m bench.ops --runs 1000000``: listing and retention on a big journal.

Creates ``cx_bench_ops_<hex>``, seeds it (``bench/ops/seed.py``), times
``list_runs`` / ``count_runs`` through the public API, drains the expired runs
with upkeep ticks, writes ``bench/results/ops.json`` and drops the database. Nothing
is published: the seeded runs owe no message, so the Celery app's broker is the
in-memory transport.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery

from bench.ops.database import bench_database
from bench.ops.listing import QUERIES, measure_counts, measure_query
from bench.ops.report import render
from bench.ops.retention import measure_retention
from bench.ops.seed import DAYS, seed
from continuum_celery import Continuum
from continuum_celery.journal.migrate import migrate
from continuum_celery.runtime.sweeper import UpkeepSettings

RESULTS = Path(__file__).resolve().parents[1] / "results" / "ops.json"


def log(message: str) -> None:
    print(f"[bench.ops] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ops", description=__doc__)
    p.add_argument("--runs", type=int, default=1_000_000, help="runs to seed")
    p.add_argument("--calls", type=int, default=200, help="timed calls per listing")
    p.add_argument("--count-calls", type=int, default=20, help="timed calls per count")
    p.add_argument("--retention-days", type=float, default=15.0,
                   help=f"retention; runs are spread over {DAYS} days")  # fmt: skip
    p.add_argument("--batch", type=int, default=UpkeepSettings.batch, help="runs per tick")
    p.add_argument("--max-ticks", type=int, default=100_000)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument(
        "--pg-server",
        default=os.environ.get("CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/"),
    )
    p.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    return p.parse_args(argv)


def engine_for(url: str, args: argparse.Namespace) -> Continuum:
    """A client with the bench's retention and batch, and no upkeep of its own."""
    app = Celery("bench_ops", broker="memory://")
    settings = UpkeepSettings(batch=args.batch)
    retention = timedelta(days=args.retention_days)
    return Continuum(app, database_url=url, upkeep=settings, retention=retention,
                     worker_upkeep=False)  # fmt: skip


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    cx = engine_for(url, args)
    migrate(cx.db)
    results: dict[str, Any] = {"runs": args.runs, "seed": seed(cx.db.engine, args.runs, log)}
    log(f"seeded: {results['seed']}")
    results["list_runs"] = [measure_query(cx, query, args.calls) for query in QUERIES]
    results["count_runs"] = measure_counts(cx, args.count_calls)
    log("draining expired runs with upkeep ticks")
    age = args.retention_days * 86400.0
    results["retention"] = measure_retention(cx, age, args.max_ticks, log)
    cx.db.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with bench_database(args.pg_server, args.keep_db) as url:
        results = bench(url, args)
    results["wall_s"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
