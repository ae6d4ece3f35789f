"""Replay growth: one workflow of N sequential steps, for growing N.

A replaying engine pays more per step as a history grows; this mode measures how much,
with the plain chain (which keeps no history) as the flat reference.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.drivers import DURABLE_APP, PLAIN_APP, DurableDriver, PlainDriver
from bench.environment import Env, log
from bench.metrics import Delta, Probe, percentile, settle
from bench.table import fmt, table_lines
from bench.workers import Workers


def bench_growth(env: Env, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.growth.split(",") if s.strip()]
    out: dict[str, Any] = {"sizes": sizes, "celery_chain": {}, "continuum": {}}
    _growth_plain(env, probe, args, sizes, out["celery_chain"])
    _growth_continuum(env, probe, args, sizes, out["continuum"])
    for system in ("celery_chain", "continuum"):
        rows = out[system]
        base = rows.get(str(sizes[0]))
        for row in rows.values():
            row["ratio_vs_first"] = row["per_step_ms"] / base["per_step_ms"] if base else None
    return out


def _reps(args: argparse.Namespace, n: int) -> int:
    """Small sizes are repeated: one short run is too noisy to compare."""
    return int(args.growth_reps) if n <= 100 else 1


def _growth_plain(
    env: Env, probe: Probe, args: argparse.Namespace, sizes: list[int], out: dict[str, Any]
) -> None:
    plain = PlainDriver(env)
    log(f"growth: plain celery chain, sizes {sizes}")
    with Workers(env, probe, PLAIN_APP, args.workers, args.concurrency, False, args.events):
        plain.wait(plain.submit(args.warmup, 5), args.warmup * 5)  # warm every pool child
        for n in sizes:
            if n > args.growth_celery_max:
                continue
            per_step = [plain.run_one(n) / n for _ in range(_reps(args, n))]
            out[str(n)] = {"per_step_ms": 1000 * percentile(per_step, 50)}
            log(f"growth: celery chain {n}: {out[str(n)]['per_step_ms']:.2f} ms")


def _growth_continuum(
    env: Env, probe: Probe, args: argparse.Namespace, sizes: list[int], out: dict[str, Any]
) -> None:
    durable = DurableDriver(env)
    log(f"growth: continuum, sizes {sizes}")
    try:
        with Workers(env, probe, DURABLE_APP, args.workers, args.concurrency, False, args.events):
            durable.wait(durable.submit(args.warmup, 5), args.warmup * 5)
            for n in sizes:
                out[str(n)] = _continuum_size(durable, probe, env.name, n, _reps(args, n))
                log(f"growth: continuum {n}: {out[str(n)]['per_step_ms']:.2f} ms")
    finally:
        durable.close()


def _continuum_size(
    durable: DurableDriver, probe: Probe, database: str, n: int, reps: int
) -> dict[str, float]:
    """Medians over ``reps`` single runs of ``n`` steps."""
    per_step, commits, cpu, first, last = [], [], [], [], []
    for _ in range(reps):
        run_id, delta = _measured_run(durable, probe, n)
        _deltas, e2e = durable.step_latencies([run_id])
        per_step.append(e2e[0])
        commits.append(delta.commits.get(database, 0) / n)
        cpu.append(delta.cpu["workers"] / n)
        wakes = durable.wake_costs(run_id)
        tenth = max(1, len(wakes) // 10)
        first.append(percentile(wakes[:tenth], 50))
        last.append(percentile(wakes[-tenth:], 50))
    return {
        "per_step_ms": 1000 * percentile(per_step, 50),
        "commits_per_step": percentile(commits, 50),
        "worker_cpu_ms_per_step": 1000 * percentile(cpu, 50),
        # completed -> next scheduled: wakeup, lease + history, replay, commit
        "replay_side_ms_first_tenth": 1000 * percentile(first, 50),
        "replay_side_ms_last_tenth": 1000 * percentile(last, 50),
    }


def _measured_run(durable: DurableDriver, probe: Probe, n: int) -> tuple[str, Delta]:
    """One run of ``n`` steps and its counters, measured again if Postgres restarted."""
    for _attempt in range(3):
        settle()
        before = probe.snapshot()
        run_ids = durable.submit(1, n)
        durable.wait(run_ids, n * n // 50 + n)
        settle()
        delta = Probe.delta(before, probe.snapshot())
        if not delta.pg_restarted:
            break
        log(f"growth: Postgres restarted during the {n}-step run; again")
    return run_ids[0], delta


def render_growth(growth: dict[str, Any]) -> str:
    headers = [
        "steps",
        "continuum ms/step",
        "vs first",
        "commits/step",
        "worker CPU ms/step",
        "replay side ms, first/last tenth",
        "celery chain ms/step",
        "vs first",
    ]
    rows = [_growth_row(n, growth) for n in growth["sizes"]]
    return "\n".join(table_lines(headers, rows))


def _growth_row(n: int, growth: dict[str, Any]) -> list[str]:
    cx = growth["continuum"].get(str(n), {})
    ce = growth["celery_chain"].get(str(n), {})
    return [
        str(n),
        fmt(cx.get("per_step_ms")),
        fmt(cx.get("ratio_vs_first")) + "x",
        fmt(cx.get("commits_per_step")),
        fmt(cx.get("worker_cpu_ms_per_step")),
        f"{fmt(cx.get('replay_side_ms_first_tenth'))} / {fmt(cx.get('replay_side_ms_last_tenth'))}",
        fmt(ce.get("per_step_ms")),
        fmt(ce.get("ratio_vs_first")) + "x",
    ]
