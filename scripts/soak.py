#!/usr/bin/env python
"""Soak test: many workflows through real workers while the infrastructure misbehaves.

    python scripts/soak.py --runs 1000

Creates a fresh database and claims a Redis database of its own, starts 3 ``celery
worker`` processes of ``scripts/soak_app.py`` (upkeep runs inside each, as a worker
bootstep, one leading at a time; no beat) and submits a mix of workflows: chained
activities, parallel activities, short durable timers, and signals that this script
sends. Meanwhile it SIGKILLs random workers (with their pool children) and restarts
them, flushes the broker database once, and restarts Postgres once. Then it waits,
bounded, for every run to finish, and checks each journal.

Reports runs finished, lost (not finished by the deadline), failed or with a wrong
result, runs with duplicate events (a command decided twice or resolved twice, or
seq gaps), and activity body executions against journal completions. Exits 0 only
when no run was lost, duplicated, failed or wrong, no run has a seq gap, and every
journal completion had a body execution behind it.

Needs Postgres (``--pg``, default postgresql://postgres@127.0.0.1:5432/) with
rights to create databases, Redis (``--redis``), and, for the Postgres restart,
``pg_ctlcluster`` (``--no-pg-restart`` skips it). Not part of the test suite.

The parts, next to this file: ``soak_plan`` decides the runs and the chaos from the
seed, ``soak_phase`` carries them out, ``soak_check`` reads the journal afterwards and
``soak_report`` prints the findings; ``soak_servers`` and ``soak_workers`` own the
database, the Redis database and the worker processes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from soak_check import check, describe_lost
from soak_common import REPO_ROOT, SCRIPTS, log, with_path
from soak_phase import RunPhase, drain
from soak_plan import chaos_plan, plan
from soak_report import Report, print_report
from soak_servers import (
    claim_redis_db,
    create_database,
    drop_database,
    flush_broker,
    release_redis_db,
)
from soak_workers import Worker, kill_all, start_all

if TYPE_CHECKING:
    from continuum_celery import Continuum


@dataclass(frozen=True)
class Place:
    """Where one soak lives: its own database, its own broker database, its logs."""

    database_url: str
    broker_url: str
    state: Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=3, help="pool processes per worker")
    parser.add_argument("--rate", type=float, default=25.0, help="runs submitted per second")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--deadline", type=float, default=None, help="seconds to wait at the end")
    parser.add_argument("--seed", type=int, default=None)
    pg = os.environ.get("CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/")
    parser.add_argument("--pg", default=pg, help="server URL, any database path")
    parser.add_argument(
        "--redis", default=os.environ.get("CONTINUUM_TEST_REDIS", "redis://127.0.0.1:6379")
    )
    parser.add_argument("--no-pg-restart", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="cx-soak-"))
    report = Report()
    in_own_servers(args, seed, state, report)
    report.wall_seconds = time.monotonic() - started
    print_report(report, seed, state)
    if report.ok and not args.keep:
        shutil.rmtree(state, ignore_errors=True)
        print(f"(removed {state}; pass --keep to keep the logs)")
    return 0 if report.ok else 1


def in_own_servers(args: argparse.Namespace, seed: int, state: Path, report: Report) -> None:
    """The soak on a fresh database and a claimed Redis database, both given back."""
    db_name, database_url = create_database(args.pg)
    try:
        redis_db, redis_token = claim_redis_db(args.redis)
        try:
            place = Place(database_url, with_path(args.redis, f"/{redis_db}"), state)
            soak(args, seed, place, report)
        finally:
            release_redis_db(args.redis, redis_db, redis_token)
    finally:
        if not args.keep:
            drop_database(args.pg, db_name)


def soak(args: argparse.Namespace, seed: int, place: Place, report: Report) -> None:
    """Start the workers, soak them, and always kill them afterwards."""
    rng = random.Random(seed)
    started = time.monotonic()
    flush_broker(place.broker_url)
    database = urlsplit(place.database_url).path[1:]
    log(f"seed {seed}; database {database}; broker {place.broker_url}")
    log(f"logs in {place.state}")
    env, cx = engine(place)
    workers = [Worker(i, env, place.state, args.concurrency) for i in range(args.workers)]
    try:
        start_all(workers, place.state)
        log(f"{len(workers)} workers ready after {time.monotonic() - started:.1f}s")
        soak_with(args, rng, cx, workers, place, report)
    finally:
        kill_all(workers)
        cx.db.dispose()


def engine(place: Place) -> tuple[dict[str, str], Continuum]:
    """The workers' environment, and the app in this process (migrated) for starts,
    signals and checks: both configured like a deployment, from the environment."""
    settings = {
        "CONTINUUM_DATABASE_URL": place.database_url,
        "CELERY_BROKER_URL": place.broker_url,
        "SOAK_STATE_DIR": str(place.state),
    }
    path = [str(SCRIPTS), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, **settings, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    os.environ.update(settings)
    sys.path[:0] = [str(SCRIPTS), str(REPO_ROOT)]
    cx: Continuum = importlib.import_module("soak_app").cx
    cx.migrate()
    return env, cx


def soak_with(
    args: argparse.Namespace,
    rng: random.Random,
    cx: Continuum,
    workers: list[Worker],
    place: Place,
    report: Report,
) -> None:
    """Plan, run under chaos, wait for the runs to end, and check the journal."""
    window = max(10.0, args.runs / args.rate)
    planned = plan(args.runs, window, rng)
    chaos = chaos_plan(window + 10.0, len(workers), args.kill_every, rng)
    if args.no_pg_restart:
        chaos = [c for c in chaos if c.action != "pg-restart"]
    RunPhase(cx, planned, chaos, workers, place.broker_url, rng).run(report)
    limit = args.deadline if args.deadline is not None else max(120.0, args.runs * 0.5)
    drain(cx, planned, place.database_url, limit, report)
    check(place.database_url, planned, place.state, report)
    if report.lost:
        describe_lost(place.database_url, report.lost)


if __name__ == "__main__":
    raise SystemExit(main())
