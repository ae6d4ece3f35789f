"""The fast path: W workflows of S sequential no-op steps, on every system in turn.

Each system gets the same broker, pool settings and step body in the same run, so
its throughput, latency, commits and messages per step compare directly.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from bench.drivers import DURABLE_APP, PLAIN_APP, DurableDriver, PlainDriver
from bench.environment import Env, log
from bench.metrics import Probe
from bench.profiling import profiling
from bench.report import ratios_vs_celery_chain
from bench.windows import Window, latency_summary, measure, summarize_window
from bench.workers import Workers

OPTIONS_ENV = "BENCH_CONTINUUM_OPTIONS"  # read by bench/apps/durable.py in the workers


def bench_fast_path(env: Env, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    """Every system's window, and continuum's and DBOS's ratios to the plain chain."""
    w, s = args.workflows, args.steps
    systems: dict[str, Any] = {}
    systems["celery_chain"] = bench_plain(env, probe, args, w, s)
    systems["continuum"] = bench_continuum(env, probe, args, w, s)
    if args.guard_off:
        off = {"determinism_guard": False}
        systems["continuum_guard_off"] = bench_continuum(env, probe, args, w, s, off)
    if args.no_dbos:
        systems["dbos"] = {"skipped": "--no-dbos" if not args.quick else "--quick"}
    else:
        systems["dbos"] = bench_dbos(env, probe, args, w, s)
    return {"systems": systems, "ratios_vs_celery_chain": ratios_vs_celery_chain(systems)}


def bench_plain(
    env: Env, probe: Probe, args: argparse.Namespace, workflows: int, steps: int
) -> dict[str, Any]:
    log(f"plain celery chain: starting {args.workers} worker(s) -c {args.concurrency}")
    driver = PlainDriver(env)
    with Workers(env, probe, PLAIN_APP, args.workers, args.concurrency, False, args.events):
        driver.wait(driver.submit(args.warmup, steps), args.warmup * steps)  # warm-up
        log(f"plain celery chain: {workflows} chains x {steps} steps, all at once")
        window = measure(
            probe,
            args.idle_window,
            lambda: driver.submit(workflows, steps),
            lambda s: max(driver.wait(s, workflows * steps).values()),
        )
        log(f"plain celery chain: latency, {args.latency_runs} chains one after another")
        e2e = [driver.run_one(steps) / steps for _ in range(args.latency_runs)]
    result = summarize_window(window, workflows * steps, env.name, broker=True)
    result["expected_msgs"] = workflows * steps
    result["latency"] = latency_summary(e2e, e2e)
    result["latency"]["method"] = "end-to-end chain time / S (submit -> last task's ZADD)"
    return result


def bench_continuum(
    env: Env,
    probe: Probe,
    args: argparse.Namespace,
    workflows: int,
    steps: int,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``options`` are ``Continuum`` keyword arguments for the workers, on top of
    ``$BENCH_CONTINUUM_OPTIONS`` (how ``--guard-off`` measures the guard's cost)."""
    log(f"continuum: starting {args.workers} worker(s) -c {args.concurrency} {options or ''}")
    driver = DurableDriver(env)
    profiles: list[str] = []
    merged = json.loads(os.environ.get(OPTIONS_ENV) or "{}") | (options or {})
    extra = {OPTIONS_ENV: json.dumps(merged)} if options else None
    try:
        with Workers(
            env, probe, DURABLE_APP, args.workers, args.concurrency, False, args.events, extra
        ) as w:
            window = _continuum_window(driver, probe, args, (workflows, steps), w, profiles)
            log(f"continuum: latency, {args.latency_runs} workflows one after another")
            sequential = [driver.run_one(steps) for _ in range(args.latency_runs)]
            deltas, e2e = driver.step_latencies(sequential)
    finally:
        driver.close()
    result = summarize_window(window, workflows * steps, env.name, broker=True)
    result["latency"] = latency_summary(deltas, e2e)
    result["latency"]["method"] = (
        "journal created_at deltas: activity_scheduled -> next activity_scheduled "
        "(last step: -> run completed_at)"
    )
    if profiles:
        result["profiles"] = profiles
    return result


def _continuum_window(
    driver: DurableDriver,
    probe: Probe,
    args: argparse.Namespace,
    size: tuple[int, int],
    workers: Workers,
    profiles: list[str],
) -> Window:
    """Warm up, then the loaded window (profiled with ``--profile``)."""
    workflows, steps = size
    driver.wait(driver.submit(args.warmup, steps), args.warmup * steps)  # warm-up
    log(f"continuum: {workflows} workflows x {steps} steps, all at once")
    with profiling(args.profile, workers.pool_children(), profiles):
        return measure(
            probe,
            args.idle_window,
            lambda: driver.submit(workflows, steps),
            lambda ids: driver.wait(ids, workflows * steps),
        )


def bench_dbos(
    env: Env, probe: Probe, args: argparse.Namespace, workflows: int, steps: int
) -> dict[str, Any]:
    try:
        from bench import dbos_peer
    except ImportError as error:
        return {"skipped": f"dbos not importable ({error}); pip install dbos to include it"}
    env.create_database(env.dbos_name)
    probe.databases.append(env.dbos_name)
    log(f"dbos: in-process, thread pool of {dbos_peer.THREADS}, database {env.dbos_name}")
    with dbos_peer.Peer(env.db_url(env.dbos_name)) as peer:
        peer.run_many(args.warmup, steps)
        log(f"dbos: {workflows} workflows x {steps} steps, all at once")
        window = measure(
            probe,
            args.idle_window,
            lambda: peer.submit(workflows, steps),
            lambda futures: peer.wait(futures),
        )
        log(f"dbos: latency, {args.latency_runs} workflows one after another")
        e2e = [peer.run_one(steps) / steps for _ in range(args.latency_runs)]
    result = summarize_window(window, workflows * steps, env.dbos_name, broker=False)
    result["latency"] = latency_summary(e2e, e2e)
    result["latency"]["method"] = "end-to-end workflow call time / S"
    result["note"] = (
        f"runs in the bench process (no broker, no celery), {dbos_peer.THREADS} threads, "
        "own database on the same Postgres server"
    )
    return result
