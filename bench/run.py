"""Benchmark continuum_celery against a plain Celery chain (and, optionally, DBOS).

    python -m bench.run [--workflows 100 --steps 10 --concurrency 2] [--quick]
    python -m bench.run --growth 10,100,1000
    python -m bench.run --parked 100000

Every run creates a fresh Postgres database and takes a Redis db number of its own,
starts real ``celery worker`` subprocesses (prefork), and measures every system in
the same run, on the same broker, pool settings and step body. See bench/README.md
for what each number means and how it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.cli import parse_args
from bench.environment import RESULTS_DIR, Env, environment_info, log
from bench.fastpath import bench_fast_path
from bench.growth import bench_growth, render_growth
from bench.metrics import Probe, set_settle_seconds
from bench.report import print_notes, render_table
from bench.workloads import render_workloads, run_workloads


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, (__doc__ or "").split("\n")[0])
    set_settle_seconds(args.stats_settle)
    env = Env(args.pg_server, args.redis_server, args.redis_db, args.keep_db).open()
    # The apps read these at import; the bench imports them only after this point.
    os.environ.update(env.worker_env())
    probe = Probe(env.admin_url, env.broker_url, [env.name], env.count_dir)
    log(f"database {env.name}, redis db {env.db_number}, worker logs in {env.log_dir}")
    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("pg_server", "redis_server")
        },
    }
    succeeded = False
    try:
        results["environment"] = environment_info(env)
        output = _run_mode(env, probe, args, results)
        succeeded = True
    finally:
        probe.close()
        env.close(succeeded)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _print_report(args, results)
    print(f"\nresults: {output}")
    return 0


def _run_mode(env: Env, probe: Probe, args: argparse.Namespace, results: dict[str, Any]) -> Path:
    """Measure the mode the options ask for; where its results go by default."""
    output: Path | None = args.output
    if args.workload is not None:
        results["workloads"] = run_workloads(env, probe, args)
        return output or RESULTS_DIR / "workloads.json"
    if args.parked is not None:
        from bench.parked import bench_parked  # only this mode needs the journal

        results["parked"] = bench_parked(env, probe, args)
        return output or RESULTS_DIR / "parked.json"
    if args.growth:
        results["growth"] = bench_growth(env, probe, args)
        return output or RESULTS_DIR / "growth.json"
    results.update(bench_fast_path(env, probe, args))
    return output or RESULTS_DIR / "latest.json"


def _print_report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.workload is not None:
        print(render_workloads(results["workloads"], results["environment"]))
    elif args.parked is not None:
        _print_parked(args, results)
    elif args.growth:
        print(f"\nreplay growth: one workflow of N sequential no-op steps, -c {args.concurrency}")
        print(render_growth(results["growth"]))
    else:
        print(
            f"\n{args.workflows} workflows x {args.steps} steps, {args.workers} worker(s) "
            f"-c {args.concurrency}, Redis broker, Postgres {results['environment']['postgres']}"
        )
        print(render_table(results))
        print_notes(results)


def _print_parked(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from bench.parked import render_parked

    parked = results["parked"]
    print(
        f"\nparked runs: {args.parked:,} ({parked['signal_runs']:,} waiting on a"
        f" signal, {parked['timer_runs']:,} on a"
        f" {parked['timer_seconds']:.0f} s timer), {args.workers} worker(s)"
        f" -c {args.concurrency} -B, Postgres {results['environment']['postgres']}"
    )
    print(render_parked(parked))


if __name__ == "__main__":
    sys.exit(main())
