"""``python -m bench.run``'s options, their defaults and their checks.

Defaults depend on the mode (``--quick``, ``--parked``), so they are filled in after
parsing rather than declared on each option.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.metrics import STATS_SETTLE
from bench.workloads import WORKLOAD_NAMES, parse_workloads


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=description)
    _add_fast_path(p)
    _add_modes(p)
    _add_servers(p)
    args = p.parse_args(argv)
    _fill_defaults(p, args)
    _check(p, args)
    return args


def _add_fast_path(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflows", type=int, help="W: workflows/chains submitted at once (100)")
    p.add_argument("--steps", type=int, help="S: sequential no-op steps per workflow (10)")
    p.add_argument("--concurrency", type=int, default=2, help="prefork processes per worker")
    p.add_argument("--workers", type=int, default=1, help="worker processes per system")
    p.add_argument("--latency-runs", type=int, help="sequential single workflows (30)")
    p.add_argument("--warmup", type=int, default=4, help="workflows run before measuring")
    p.add_argument("--idle-window", type=float, help="seconds of idle background measurement")
    p.add_argument("--quick", action="store_true", help="tiny sizes (5 x 3), no DBOS")
    p.add_argument("--no-dbos", action="store_true", help="skip the DBOS peer")
    p.add_argument("--events", action="store_true", help="workers send task events (-E)")
    p.add_argument(
        "--guard-off", action="store_true",
        help="also measure continuum with the determinism guard off, in the same run",
    )  # fmt: skip


def _add_modes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--growth", help="replay growth mode: comma-separated step counts")
    p.add_argument("--growth-reps", type=int, default=5, help="repetitions for sizes <= 100")
    p.add_argument(
        "--growth-celery-max", type=int, default=1000, help="largest celery chain in growth mode"
    )
    _add_parked(p)
    p.add_argument("--profile", action="store_true", help="py-spy the continuum pool children")
    p.add_argument(
        "--stats-settle", type=float,
        help="seconds to wait before each commit-counter read (11; --quick: 2, may undercount)",
    )  # fmt: skip
    p.add_argument(
        "--workload",
        help=f"workloads mode: comma-separated, from {','.join(WORKLOAD_NAMES)}, or 'all'",
    )
    p.add_argument("--units", type=int, help="workloads: units per workload (see README)")
    p.add_argument("--signal-rate", type=float, default=250.0, help="workloads: paced signals/s")
    p.add_argument("--output", type=Path, help="JSON output path")


def _add_parked(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parked", type=int, metavar="N", help="parked-runs mode: park N waiting runs")
    p.add_argument(
        "--parked-checkpoints", help="parked counts to measure at (default 1000,10000 below N)"
    )
    p.add_argument(
        "--parked-timers", type=float, default=0.1, help="share of runs on a long timer (0.1)"
    )
    p.add_argument(
        "--parked-window",
        type=int,
        default=200,
        help="client threads pause while more messages wait in the queue (200; 0: never)",
    )
    p.add_argument("--client-threads", type=int, default=4, help="parked: start/signal threads")
    p.add_argument("--upkeep-ticks", type=int, default=20, help="parked: timed upkeep ticks")


def _add_servers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pg-server",
        default=os.environ.get("CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/"),
    )
    p.add_argument(
        "--redis-server", default=os.environ.get("CONTINUUM_TEST_REDIS", "redis://127.0.0.1:6379")
    )
    p.add_argument("--redis-db", type=int, help="Redis db number (default: claim a free 1-15)")
    p.add_argument("--keep-db", action="store_true", help="keep the databases afterwards")


def _fill_defaults(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    quick = args.quick
    args.workflows = args.workflows or (5 if quick else 100)
    args.steps = args.steps or (3 if quick else 10)
    args.latency_runs = args.latency_runs or (3 if quick else 30)
    default_idle = 0.3 if quick else (5.0 if args.parked is not None else 2.0)
    args.idle_window = args.idle_window if args.idle_window is not None else default_idle
    if args.stats_settle is None:
        args.stats_settle = 2.0 if quick else STATS_SETTLE
    if args.stats_settle < 0:
        p.error("--stats-settle must be >= 0")
    if args.workload is not None:
        try:
            args.workload = parse_workloads(args.workload)
        except ValueError as error:
            p.error(str(error))
    if quick:
        args.warmup = min(args.warmup, 1)
        # The workloads' DBOS peers are quick at --quick sizes; the fast path's is not.
        args.no_dbos = args.no_dbos or args.workload is None


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.steps < 1 or args.workflows < 1 or args.latency_runs < 1:
        p.error("--workflows, --steps and --latency-runs must be positive")
    if args.parked is not None and (args.parked < 1 or args.upkeep_ticks < 1):
        p.error("--parked and --upkeep-ticks must be positive")
    if not 0 <= args.parked_timers < 1:
        p.error("--parked-timers must be in [0, 1)")
