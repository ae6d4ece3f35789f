"""The parked-runs bench: park runs in stages, measure at checkpoints, then signal.

A stage's counters run from its first start to the next checkpoint's first snapshot,
so the cost per parked run includes the parking the workers finish after the client.
"""

from __future__ import annotations

import argparse
import importlib
import time
from types import ModuleType
from typing import Any

from bench.environment import Env, log
from bench.metrics import Probe, Snapshot, settle
from bench.parked.checkpoint import analyze, background, per_unit
from bench.parked.clients import TIMER_SECONDS, Clients
from bench.parked.code import code_state
from bench.parked.memory import worker_memory
from bench.parked.progress import Progress
from bench.parked.report import summarize
from bench.parked.sql_counter import SqlCounter
from bench.parked.upkeep import upkeep_plans, upkeep_ticks
from bench.profiling import profiling
from bench.workers import Workers

PARKED_APP = "bench.apps.parked"


def checkpoints(n: int, given: str | None) -> list[int]:
    if given:
        points = {int(s) for s in given.split(",") if s.strip()}
    else:
        points = {p for p in (1_000, 10_000, 100_000, 1_000_000) if p < n}
    return sorted({p for p in points if 0 < p < n} | {n})


class ParkedBench:
    def __init__(self, env: Env, probe: Probe, args: argparse.Namespace) -> None:
        self.env = env
        self.probe = probe
        self.args = args
        self.mod: ModuleType = importlib.import_module(PARKED_APP)
        self.cx = self.mod.cx
        self.cx.migrate()
        self.sql = SqlCounter(self.cx.db.engine, env.count_dir)
        self.url = env.db_url()
        self.progress = Progress(self.url, self.mod.await_signal.name)
        self.clients = Clients(self.mod, env.broker_url, args.parked_window, args.client_threads)
        self.started = 0
        self.warmup_runs = 0
        self.pending: tuple[dict[str, Any], Snapshot, int] | None = None

    def close(self) -> None:
        self.progress.close()
        self.clients.close()
        self.cx.db.dispose()

    def _is_timer(self, i: int) -> bool:
        share = self.args.parked_timers
        return int((i + 1) * share) > int(i * share)

    def park(self, count: int) -> dict[str, Any]:
        """Start ``count`` more runs and wait until every one is parked."""
        first = self.started
        want = self.warmup_runs + first + count
        settle()
        before = self.probe.snapshot()
        t0 = time.time()
        gated = self.clients.in_threads(
            list(range(first, first + count)), lambda i: self.clients.start(i, self._is_timer(i))
        )
        t_submitted = time.time()
        self.started += count
        t_end = self.progress.wait_for("parking", self.progress.parked, want)
        elapsed = t_end - t0
        out = {
            "runs": count,
            "elapsed_s": elapsed,
            "runs_per_s": count / elapsed,
            "submit_s": t_submitted - t0,
            "submitted_per_s": count / (t_submitted - t0),
            "gate_wait_s": gated,
        }
        self.pending = (out, before, count)  # counters close at the next checkpoint
        log(
            f"parked: {self.started} parked; this stage {count} runs in {elapsed:.1f} s"
            f" ({out['runs_per_s']:.0f}/s, submitting {out['submitted_per_s']:.0f}/s)"
        )
        return out

    def warm_up(self, runs: int) -> None:
        """Park and finish a few runs, so every pool child has imported and connected."""
        ids = []
        for i in range(runs):
            ids.append(str(self.mod.await_signal.apply_async([-1 - i]).run_id))
        self.warmup_runs = runs
        self.progress.wait_for("warm-up parking", self.progress.parked, runs)
        for run_id in ids:
            self.cx.signal(run_id, self.mod.SIGNAL, "warm-up")
        self.progress.wait_for("warm-up signals", self.progress.completed, runs)

    def checkpoint(self, label: str, kind: str, workers: Workers) -> dict[str, Any]:
        parked, _ = self.progress.parked()
        out: dict[str, Any] = {
            "label": label,
            "kind": kind,
            "started": parked - self.warmup_runs,
            "waiting": self.progress.waiting(),
        }
        out["memory"] = worker_memory(workers)
        # First with whatever planner statistics the tables have (autovacuum's, if it
        # runs), then again right after an ANALYZE of the journal tables.
        out["tables_as_found"] = self.progress.table_stats()
        out["upkeep_as_found"] = upkeep_ticks(self.cx, self.sql, self.args.upkeep_ticks)
        out["upkeep_plans_as_found"] = upkeep_plans(self.cx.db.engine)
        analyze(self.url)
        out["background"] = background(
            self.probe, workers, self.args.idle_window, self.env.name, self._close_stage
        )
        out["upkeep"] = upkeep_ticks(self.cx, self.sql, self.args.upkeep_ticks)
        out["upkeep_plans"] = upkeep_plans(self.cx.db.engine)
        up, found = out["upkeep"], out["upkeep_as_found"]
        log(
            f"parked: checkpoint {label}: {out['waiting']} waiting; worker RSS"
            f" {out['memory']['rss_mb']:.1f} MB, PSS {out['memory']['pss_mb']:.1f} MB;"
            f" upkeep p50 {found['p50_ms']:.2f} ms/tick as found,"
            f" {up['p50_ms']:.2f} after ANALYZE"
        )
        return out

    def _close_stage(self, at: Snapshot) -> None:
        """The stage before this checkpoint ran from its first submit to ``at``."""
        if self.pending is not None:
            stage, before, units = self.pending
            stage.update(per_unit(Probe.delta(before, at), self.env.name, units, "run"))
            self.pending = None

    def signal_all(self) -> dict[str, Any]:
        ids = list(self.clients.signal_ids)
        want = self.warmup_runs + len(ids)
        settle()
        before = self.probe.snapshot()
        t0 = time.time()
        gated = self.clients.in_threads(ids, self.clients.signal)
        t_sent = time.time()
        log(f"parked: {len(ids)} signals sent in {t_sent - t0:.1f} s; waiting for completions")
        t_end = self.progress.wait_for("signalled runs", self.progress.completed, want)
        p50, p99 = self.progress.signal_latency(ids)
        elapsed = t_end - t0
        out = {
            "runs": len(ids),
            "elapsed_s": elapsed,
            "runs_per_s": len(ids) / elapsed,
            "send_s": t_sent - t0,
            "signals_per_s": len(ids) / (t_sent - t0),
            "gate_wait_s": gated,
            "signal_to_completion_p50_ms": p50,
            "signal_to_completion_p99_ms": p99,
        }
        self.pending = (out, before, len(ids))
        log(f"parked: {len(ids)} runs completed in {elapsed:.1f} s ({out['runs_per_s']:.0f}/s)")
        return out


def bench_parked(env: Env, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    n = args.parked
    points = checkpoints(n, args.parked_checkpoints)
    log(
        f"parked: {n} runs ({args.parked_timers:.0%} on a {TIMER_SECONDS:.0f} s timer),"
        f" checkpoints {points}, {args.workers} worker(s) -c {args.concurrency} (first with -B)"
    )
    bench = ParkedBench(env, probe, args)
    out: dict[str, Any] = {"n": n, "timer_seconds": TIMER_SECONDS, "code": code_state(),
                           "autovacuum": bench.progress.setting("autovacuum"),
                           "checkpoints": [], "parking": []}  # fmt: skip
    try:
        with Workers(env, probe, PARKED_APP, args.workers, args.concurrency, beat=True) as w:
            _park_and_signal(bench, w, points, out)
    finally:
        bench.close()
    out["summary"] = summarize(out)
    return out


def _park_and_signal(
    bench: ParkedBench, w: Workers, points: list[int], out: dict[str, Any]
) -> None:
    bench.warm_up(max(1, bench.args.warmup))
    out["checkpoints"].append(bench.checkpoint("after warm-up", "warm-up", w))
    for point in points:
        stage = bench.park(point - bench.started)
        stage["parked_after"] = point
        out["parking"].append(stage)
        out["checkpoints"].append(bench.checkpoint(f"{point:,} parked", "parked", w))
    out["signal_runs"] = len(bench.clients.signal_ids)
    out["timer_runs"] = len(bench.clients.timer_ids)
    profiles: list[str] = []
    with profiling(bench.args.profile, w.pool_children(), profiles):
        out["signal"] = bench.signal_all()
    if profiles:
        out["signal"]["profiles"] = profiles
    label = f"after signals ({len(bench.clients.timer_ids):,} timers parked)"
    out["checkpoints"].append(bench.checkpoint(label, "after-signals", w))
