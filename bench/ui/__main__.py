"""``python -m bench.ui --runs 1000000``: the UI's pages on a big journal.

Seeds ``cx_bench_ops_<hex>`` with the ops seeder (``bench/ops/seed.py``) plus one run
of ``--events`` events, then times, through the ASGI app in-process, the landing
index, a filtered index, and that run's page; writes ``bench/results/ui.json``.
``--database-url`` reuses a database seeded before (``--keep-db``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from celery import Celery
from fastapi.testclient import TestClient

from bench.ops.database import bench_database
from bench.ops.seed import COUNTS, seed
from bench.ui.long_run import seed_long_run
from bench.ui.timing import measure
from continuum_celery import Continuum
from continuum_celery.journal.migrate import migrate
from continuum_celery.ui import UiSettings, create_app

RESULTS = Path(__file__).resolve().parents[1] / "results" / "ui.json"
PAGES = ("/", '/?q=attributes.customer+%3D+"c-42"', "/?state=failed")


def log(message: str) -> None:
    print(f"[bench.ui] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__)
    p.add_argument("--runs", type=int, default=1_000_000, help="runs to seed")
    p.add_argument("--events", type=int, default=10_000, help="events of the long run")
    p.add_argument("--calls", type=int, default=50, help="timed requests per page")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--database-url", help="a database seeded before: skip seeding")
    p.add_argument(
        "--pg-server",
        default=os.environ.get("CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/"),
    )
    p.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    return p.parse_args(argv)


def bench(url: str, args: argparse.Namespace, seeded: bool) -> dict[str, Any]:
    cx = Continuum(Celery("bench_ui", broker="memory://"), database_url=url,
                   worker_upkeep=False)  # fmt: skip
    migrate(cx.db)
    results: dict[str, Any] = {"runs": args.runs, "events": args.events, "seeded_here": not seeded}
    if not seeded:
        results["seed"] = seed(cx.db.engine, args.runs, log)
    else:  # seeded before (--keep-db): say what is there
        with cx.db.engine.connect() as conn:
            runs, events, tasks, attempts = conn.execute(COUNTS).one()
        results["reused"] = {"runs": runs, "events": events, "tasks": tasks, "attempts": attempts}
    run_id = seed_long_run(cx.db.engine, args.events + args.events % 2)
    app = create_app(cx, prefix="", settings=UiSettings())
    with TestClient(app) as client:
        paths = [*PAGES, f"/runs/{quote(run_id, safe='')}"]
        results["pages"] = [measure(client, path, args.calls) for path in paths]
    cx.db.dispose()
    return results


def render(results: dict[str, Any]) -> str:
    rows = [f"{'page':<44} {'p50 ms':>8} {'p99 ms':>8} {'KB':>6}"]
    for page in results["pages"]:
        rows.append(f"{page['path']:<44} {page['p50_ms']:>8} {page['p99_ms']:>8}"
                    f" {page['bytes'] // 1024:>6}")  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    if args.database_url:
        results = bench(args.database_url, args, seeded=True)
    else:
        with bench_database(args.pg_server, args.keep_db) as url:
            results = bench(url, args, seeded=False)
    results["wall_s"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
