"""Parked runs: what many waiting workflows cost (``python -m bench.run --parked N``).

N runs are started through the public API (``.apply_async``) and parked by real
``celery worker`` subprocesses: most wait on a signal, a share (``--parked-timers``,
10 %) on an hour-long ``workflow.sleep`` that never fires during the bench. At each
checkpoint (by default after 1,000, 10,000 and N parked runs, plus a baseline after
the warm-up and a last one after the signal phase) the bench records:

- the worker's memory: VmRSS (``/proc/<pid>/status``) and PSS (``smaps_rollup``, which
  splits pages shared between the forked processes) of the main process, the embedded
  beat and every pool child, summed;
- the upkeep tick: ``cx.upkeep()`` timed from the bench process, with the SQL
  statements, commits and rollbacks it sends (counted on the bench process' engine),
  and ``EXPLAIN (ANALYZE, BUFFERS)`` of each upkeep query;
- the background with the workers idle: ``xact_commit``/s of the database, worker CPU
  and the durations of beat's own ``continuum.upkeep`` tasks (from the worker log).

Then every signal-waiting run is signalled (``cx.signal``, from a few threads) and
the bench times the first signal to the last run's ``completed_at``.

Submission and signalling are paced by the broker backlog: a client thread waits
while more than ``--parked-window`` messages sit in the queue. Without that, runs
would wait in the queue longer than upkeep's ``wake_stale_after`` (5 s) and upkeep
would start re-publishing their wakeups, which measures an overloaded broker rather
than parked runs. The time threads spend waiting is reported (``gate_wait_s``): when
it is large, the workers, not the client, set the pace.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import itertools
import os
import re
import struct
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import redis
import sqlalchemy.exc
from sqlalchemy import event, text

from bench.metrics import Delta, Probe, Snapshot, group_pids, percentile, settle
from bench.run import REPO_ROOT, Env, RolledBackReads, Workers, _fmt, _row, log, profiling
from continuum_celery.errors import RunFinished
from continuum_celery.journal import sweep

PARKED_APP = "bench.apps.parked"
TIMER_SECONDS = 3600.0
STALL_SECONDS = 120.0
"""Give up when nothing parks or completes for this long."""

_UPKEEP_LINE = re.compile(rb"Task continuum\.upkeep\[[^\]]+\] succeeded in ([0-9.eE+-]+)s")

SCOPE = {"scope": "default"}
"""The bench app's scope (``Continuum(scope=)`` unset): upkeep reads that scope only."""
UPKEEP_QUERIES: dict[str, tuple[Any, dict[str, Any]]] = {
    "due_waits": (sweep.DUE_WAITS, {"limit": 500, **SCOPE}),
    "expired_claims": (sweep.EXPIRED_CLAIMS, {"grace": 30.0, "limit": 500, **SCOPE}),
    "tasks_to_publish": (sweep.TASKS_TO_PUBLISH,
                         {"stale": 30.0, "cap": 300.0, "limit": 500, **SCOPE}),
    "runs_to_wake": (sweep.RUNS_TO_WAKE, {"stale": 5.0, "cap": 300.0, "limit": 500, **SCOPE}),
}  # fmt: skip


def checkpoints(n: int, given: str | None) -> list[int]:
    if given:
        points = {int(s) for s in given.split(",") if s.strip()}
    else:
        points = {p for p in (1_000, 10_000, 100_000, 1_000_000) if p < n}
    return sorted({p for p in points if 0 < p < n} | {n})


# --- worker memory --------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _pss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _role(pid: int, main: int, count_dir: Path) -> str:
    """The main process; a pool child (it has sent SQL); or the embedded beat (it never does)."""
    if pid == main:
        return "main"
    return "pool" if (count_dir / f"{pid}.statements").exists() else "beat"


def worker_memory(workers: Workers) -> dict[str, Any]:
    """RSS and PSS of every process of every worker (main, embedded beat, pool)."""
    processes = []
    for proc in workers.procs:
        for pid in group_pids([proc.pid]):
            rss, pss = _status_kb(pid, "VmRSS"), _pss_kb(pid)
            if rss is None:
                continue
            role = _role(pid, proc.pid, workers.env.count_dir)
            processes.append(
                {"pid": pid, "role": role, "rss_mb": rss / 1024, "pss_mb": (pss or 0) / 1024}
            )
    return {
        "rss_mb": sum(p["rss_mb"] for p in processes),
        "pss_mb": sum(p["pss_mb"] for p in processes),
        "processes": sorted(processes, key=lambda p: (p["role"], p["pid"])),
    }


# --- SQL the bench process sends ------------------------------------------------------


class SqlCounter:
    """What the bench process sends to Postgres through one engine.

    Statements are the process' own count (``bench/apps/common.py`` counts every
    ``execute`` on the pooled psycopg connections, including the statements the
    journal runs on them directly); COMMIT, ROLLBACK and pool checkouts come from
    SQLAlchemy's events. With ``pool_pre_ping`` each checkout is one more round trip
    (an autocommitted ``SELECT 1``); without it a checkout costs none.
    """

    def __init__(self, engine: Any, count_dir: Path) -> None:
        self.counts: Counter[str] = Counter()
        self.pre_ping = bool(getattr(engine.pool, "_pre_ping", False))
        self.statements_file = count_dir / f"{os.getpid()}.statements"
        self.statements = self._statements()
        event.listen(engine, "commit", self._on("commits"))
        event.listen(engine, "rollback", self._on("rollbacks"))
        event.listen(engine.pool, "checkout", self._on("checkouts"))
        event.listen(engine.pool, "reset", self._on_reset)

    def _on_reset(self, dbapi_connection: Any, *args: Any) -> None:
        """A connection returned inside a transaction is reset with a ROLLBACK."""
        status = getattr(getattr(dbapi_connection, "info", None), "transaction_status", None)
        if status is not None and status != psycopg.pq.TransactionStatus.IDLE:
            self.counts["rollbacks"] += 1

    def _statements(self) -> int:
        data = _read_from(self.statements_file, 0)
        return struct.unpack("<Q", data)[0] if len(data) == 8 else 0

    def _on(self, key: str) -> Callable[..., None]:
        def count(*args: Any, **kwargs: Any) -> None:
            self.counts[key] += 1

        return count

    def take(self) -> Counter[str]:
        counts, self.counts = self.counts, Counter()
        statements = self._statements()
        counts["statements"] = statements - self.statements
        self.statements = statements
        counts["round_trips"] = sum(counts[k] for k in ("statements", "commits", "rollbacks"))
        if self.pre_ping:
            counts["round_trips"] += counts["checkouts"]
        return counts


# --- the run ------------------------------------------------------------------------


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
        self.reads = RolledBackReads(self.url, "parked")
        self.redis = redis.Redis.from_url(env.broker_url)
        self.signal_ids: list[str] = []
        self.timer_ids: list[str] = []
        self.started = 0
        self.warmup_runs = 0
        self._ids_lock = threading.Lock()
        self.pending: tuple[dict[str, Any], Snapshot, int] | None = None

    def close(self) -> None:
        self.reads.close()
        with contextlib.suppress(Exception):
            self.redis.close()
        self.cx.db.dispose()

    # -- reads (rolled back, so polling adds nothing to xact_commit) ---------------------

    def _query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.reads.query(query, params)

    def setting(self, name: str) -> str:
        return str(self._query("SELECT current_setting(%s)", (name,))[0][0])

    def backlog(self) -> int:
        """Messages waiting in the app's queue (kombu's Redis transport: one list)."""
        return int(self.redis.llen(self.mod.QUEUE))

    def _gate(self) -> float:
        """Wait while the broker backlog is above the window; seconds waited."""
        window = self.args.parked_window
        if not window:
            return 0.0
        waited = 0.0
        while self.backlog() > window:
            time.sleep(0.01)
            waited += 0.01
        return waited

    def _failures(self) -> list[tuple[Any, ...]]:
        return self._query(
            "SELECT id::text, workflow, state, error FROM cx_runs"
            " WHERE state IN ('failed', 'cancelled') LIMIT 5"
        )

    def _wait_for(
        self, what: str, probe: Callable[[], tuple[int, float | None]], want: int
    ) -> float:
        """Poll ``probe`` (count, last timestamp) until count >= want; the last timestamp."""
        last_count, last_change = -1, time.monotonic()
        # Each poll scans a table of up to N rows: poll big runs once a second.
        pause = 0.1 if want < 1000 else 1.0
        for polls in itertools.count():
            count, stamp = probe()
            if count >= want:
                return float(stamp or time.time())
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > STALL_SECONDS:
                raise TimeoutError(
                    f"parked: {what}: stuck at {count}/{want} for {STALL_SECONDS:.0f} s;"
                    f" failed runs: {self._failures()}"
                )
            if polls % 10 == 9:
                bad = self._failures()
                if bad:
                    raise RuntimeError(f"parked: {what}: runs failed: {bad}")
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _parked(self) -> tuple[int, float | None]:
        # One wait row per run, written by the commit that parks it.
        count, last = self._query(
            "SELECT count(*), extract(epoch FROM max(created_at)) FROM cx_waits"
        )[0]
        return int(count), None if last is None else float(last)

    def _completed(self) -> tuple[int, float | None]:
        count, last = self._query(
            "SELECT count(*), extract(epoch FROM max(completed_at)) FROM cx_runs"
            " WHERE workflow = %s AND state = 'completed'",
            (self.mod.await_signal.name,),
        )[0]
        return int(count), None if last is None else float(last)

    # -- starting ----------------------------------------------------------------------

    def _is_timer(self, i: int) -> bool:
        share = self.args.parked_timers
        return int((i + 1) * share) > int(i * share)

    def _start(self, i: int, timer: bool) -> None:
        run_id = str(uuid.uuid4())
        for attempt in range(60):
            try:
                if timer:
                    self.mod.long_timer.apply_async([TIMER_SECONDS], run_id=run_id)
                else:
                    self.mod.await_signal.apply_async([i], run_id=run_id)
                break
            except sqlalchemy.exc.OperationalError as error:
                if attempt == 0:
                    log(f"parked: start failed ({type(error).__name__}); retrying")
                time.sleep(0.5)
        else:
            raise RuntimeError("parked: could not start a run for 30 s")
        with self._ids_lock:
            (self.timer_ids if timer else self.signal_ids).append(run_id)

    def _in_threads(self, items: list[Any], work: Callable[[Any], None]) -> float:
        """Run ``work`` over ``items`` in the client threads, paced; seconds gated."""
        source = iter(items)
        lock = threading.Lock()

        def loop() -> float:
            gated = 0.0
            for n in itertools.count():
                with lock:
                    item = next(source, None)
                if item is None:
                    return gated
                if n % 10 == 0:
                    gated += self._gate()
                work(item)
            return gated

        threads = max(1, self.args.client_threads)
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(loop) for _ in range(threads)]
            return sum(f.result() for f in futures)

    def park(self, count: int) -> dict[str, Any]:
        """Start ``count`` more runs and wait until every one is parked."""
        first = self.started
        want = self.warmup_runs + first + count
        settle()
        before = self.probe.snapshot()
        t0 = time.time()
        gated = self._in_threads(
            list(range(first, first + count)), lambda i: self._start(i, self._is_timer(i))
        )
        t_submitted = time.time()
        self.started += count
        t_end = self._wait_for("parking", self._parked, want)
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
        self._wait_for("warm-up parking", self._parked, runs)
        for run_id in ids:
            self.cx.signal(run_id, self.mod.SIGNAL, "warm-up")
        self._wait_for("warm-up signals", self._completed, runs)

    # -- checkpoint ----------------------------------------------------------------------

    def checkpoint(self, label: str, kind: str, workers: Workers) -> dict[str, Any]:
        parked, _ = self._parked()
        waiting = self._query("SELECT count(*) FROM cx_waits WHERE NOT resolved")[0][0]
        out: dict[str, Any] = {
            "label": label,
            "kind": kind,
            "started": parked - self.warmup_runs,
            "waiting": int(waiting),
        }
        out["memory"] = worker_memory(workers)
        # First with whatever planner statistics the tables have (autovacuum's, if it
        # runs), then again right after an ANALYZE of the journal tables.
        out["tables_as_found"] = self.table_stats()
        out["upkeep_as_found"] = self.upkeep_ticks(self.args.upkeep_ticks)
        out["upkeep_plans_as_found"] = self.upkeep_plans()
        self.analyze()
        out["background"] = self.background(workers)
        out["upkeep"] = self.upkeep_ticks(self.args.upkeep_ticks)
        out["upkeep_plans"] = self.upkeep_plans()
        up, found = out["upkeep"], out["upkeep_as_found"]
        log(
            f"parked: checkpoint {label}: {out['waiting']} waiting; worker RSS"
            f" {out['memory']['rss_mb']:.1f} MB, PSS {out['memory']['pss_mb']:.1f} MB;"
            f" upkeep p50 {found['p50_ms']:.2f} ms/tick as found,"
            f" {up['p50_ms']:.2f} after ANALYZE"
        )
        return out

    def analyze(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("ANALYZE cx_runs, cx_events, cx_tasks, cx_waits, cx_signals")

    def background(self, workers: Workers) -> dict[str, Any]:
        """Idle workers for ``--idle-window`` seconds: what beat's upkeep costs."""
        settle()
        offsets = [_size(p.log_path) for p in workers.procs]
        a = self.probe.snapshot()
        if self.pending is not None:
            # The stage before this checkpoint ran from its first submit to here.
            stage, before, units = self.pending
            stage.update(_per_unit(Probe.delta(before, a), self.env.name, units, "run"))
            self.pending = None
        time.sleep(self.args.idle_window)
        b = self.probe.snapshot()
        d = Probe.delta(a, b)
        ticks = [
            1000 * float(m.group(1))
            for proc, offset in zip(workers.procs, offsets, strict=True)
            for m in _UPKEEP_LINE.finditer(_read_from(proc.log_path, offset))
        ]
        s = d.seconds
        out: dict[str, Any] = {
            "window_s": s,
            "commits_per_s": d.commits.get(self.env.name, 0) / s,
            "rollbacks_per_s": d.rollbacks.get(self.env.name, 0) / s,
            "sql_statements_per_s": d.statements / s,
            "published_per_s": d.published / s,
            "worker_cpu_ms_per_s": 1000 * d.cpu.get("workers", 0.0) / s,
            "postgres_cpu_ms_per_s": 1000 * d.cpu.get("postgres", 0.0) / s,
            "beat_upkeep_ticks": len(ticks),
            "beat_upkeep_p50_ms": percentile(ticks, 50) if ticks else None,
            "beat_upkeep_max_ms": max(ticks) if ticks else None,
        }
        if d.pg_restarted:
            out["disturbed"] = "the Postgres server restarted during the window"
        return out

    def upkeep_ticks(self, ticks: int) -> dict[str, Any]:
        """Time ``cx.upkeep()`` (one sweep) from the bench process, ``ticks`` times."""
        self.cx.upkeep()  # connections are pooled from here on
        self.sql.take()
        durations = []
        work: Counter[str] = Counter()
        for _ in range(ticks):
            t = time.perf_counter()
            report = self.cx.upkeep()
            durations.append(1000 * (time.perf_counter() - t))
            work.update({k: v for k, v in vars(report).items() if v})
        counts = self.sql.take()
        return {
            "ticks": ticks,
            "p50_ms": percentile(durations, 50),
            "p90_ms": percentile(durations, 90),
            "min_ms": min(durations),
            "max_ms": max(durations),
            "sql_statements_per_tick": counts["statements"] / ticks,
            "commits_per_tick": counts["commits"] / ticks,
            "rollbacks_per_tick": counts["rollbacks"] / ticks,
            "pool_checkouts_per_tick": counts["checkouts"] / ticks,
            "pool_pre_ping": self.sql.pre_ping,
            # Statements, COMMITs, ROLLBACKs (and pre-pings): one round trip each.
            "round_trips_per_tick": counts["round_trips"] / ticks,
            "work_done": dict(work),
        }

    def upkeep_plans(self) -> dict[str, Any]:
        """EXPLAIN (ANALYZE, BUFFERS) of each upkeep query, rolled back."""
        plans = {}
        for name, (query, params) in UPKEEP_QUERIES.items():
            with self.cx.db.engine.connect() as conn:
                raw = conn.execute(
                    text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query.text), params
                ).scalar_one()
                conn.rollback()
            plans[name] = {
                "execution_ms": raw[0].get("Execution Time"),
                "scans": list(_scans(raw[0]["Plan"])),
            }
        return plans

    def table_stats(self) -> dict[str, Any]:
        """Size, live/dead tuples and the last autovacuum/autoanalyze of the journal tables."""
        rows = self._query(
            "SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid),"
            " last_autovacuum::text, last_autoanalyze::text"
            " FROM pg_stat_user_tables WHERE relname IN ('cx_runs', 'cx_waits', 'cx_events')"
        )
        return {
            str(r[0]): {
                "live_tuples": int(r[1]),
                "dead_tuples": int(r[2]),
                "total_mb": int(r[3]) / 2**20,
                "last_autovacuum": r[4],
                "last_autoanalyze": r[5],
            }
            for r in rows
        }

    # -- signals -------------------------------------------------------------------------

    def signal_all(self) -> dict[str, Any]:
        ids = list(self.signal_ids)
        want = self.warmup_runs + len(ids)
        settle()
        before = self.probe.snapshot()
        t0 = time.time()
        gated = self._in_threads(ids, self._signal)
        t_sent = time.time()
        log(f"parked: {len(ids)} signals sent in {t_sent - t0:.1f} s; waiting for completions")
        t_end = self._wait_for("signalled runs", self._completed, want)
        p50, p99 = self._query(
            "SELECT 1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
            " 1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY d) FROM ("
            " SELECT extract(epoch FROM r.completed_at - e.created_at) AS d"
            " FROM cx_runs r JOIN cx_events e ON e.run_id = r.id"
            " AND e.type = 'signal_received' WHERE r.id = ANY(%s::text[])) s",
            (ids,),
        )[0]
        elapsed = t_end - t0
        out = {
            "runs": len(ids),
            "elapsed_s": elapsed,
            "runs_per_s": len(ids) / elapsed,
            "send_s": t_sent - t0,
            "signals_per_s": len(ids) / (t_sent - t0),
            "gate_wait_s": gated,
            "signal_to_completion_p50_ms": float(p50),
            "signal_to_completion_p99_ms": float(p99),
        }
        self.pending = (out, before, len(ids))
        log(f"parked: {len(ids)} runs completed in {elapsed:.1f} s ({out['runs_per_s']:.0f}/s)")
        return out

    def _signal(self, run_id: str) -> None:
        for attempt in range(60):
            try:
                self.cx.signal(run_id, self.mod.SIGNAL, "go")
                return
            except RunFinished:
                return  # a retried signal whose first try had landed
            except sqlalchemy.exc.OperationalError as error:
                if attempt == 0:
                    log(f"parked: signal failed ({type(error).__name__}); retrying")
                time.sleep(0.5)
        raise RuntimeError("parked: could not signal a run for 30 s")


def _per_unit(delta: Delta, database: str, units: int, unit: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"commits_per_{unit}": delta.commits.get(database, 0) / units,
        f"write_xacts_per_{unit}": delta.xids / units,
        f"sql_statements_per_{unit}": delta.statements / units,
        f"msgs_per_{unit}": delta.published / units,
        f"worker_cpu_ms_per_{unit}": 1000 * delta.cpu.get("workers", 0.0) / units,
        f"bench_cpu_ms_per_{unit}": 1000 * delta.cpu.get("bench_process", 0.0) / units,
        f"postgres_cpu_ms_per_{unit}": 1000 * delta.cpu.get("postgres", 0.0) / units,
    }
    if delta.pg_restarted:
        out["disturbed"] = "the Postgres server restarted during the window"
    return out


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    keys = ("Node Type", "Relation Name", "Index Name", "Actual Rows", "Actual Loops",
            "Rows Removed by Filter", "Heap Fetches", "Shared Hit Blocks",
            "Shared Read Blocks", "Filter")  # fmt: skip
    if "Scan" in node.get("Node Type", ""):
        yield {k: node[k] for k in keys if k in node}
    for child in node.get("Plans", []):
        yield from _scans(child)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return b""


def bench_parked(env: Env, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    n = args.parked
    points = checkpoints(n, args.parked_checkpoints)
    log(
        f"parked: {n} runs ({args.parked_timers:.0%} on a {TIMER_SECONDS:.0f} s timer),"
        f" checkpoints {points}, {args.workers} worker(s) -c {args.concurrency} (first with -B)"
    )
    bench = ParkedBench(env, probe, args)
    out: dict[str, Any] = {"n": n, "timer_seconds": TIMER_SECONDS, "code": code_state(),
                           "autovacuum": bench.setting("autovacuum"),
                           "checkpoints": [], "parking": []}  # fmt: skip
    try:
        with Workers(env, probe, PARKED_APP, args.workers, args.concurrency, beat=True) as w:
            bench.warm_up(max(1, args.warmup))
            out["checkpoints"].append(bench.checkpoint("after warm-up", "warm-up", w))
            for point in points:
                stage = bench.park(point - bench.started)
                stage["parked_after"] = point
                out["parking"].append(stage)
                out["checkpoints"].append(bench.checkpoint(f"{point:,} parked", "parked", w))
            out["signal_runs"] = len(bench.signal_ids)
            out["timer_runs"] = len(bench.timer_ids)
            profiles: list[str] = []
            with profiling(args.profile, w.pool_children(), profiles):
                out["signal"] = bench.signal_all()
            if profiles:
                out["signal"]["profiles"] = profiles
            label = f"after signals ({len(bench.timer_ids):,} timers parked)"
            out["checkpoints"].append(bench.checkpoint(label, "after-signals", w))
    finally:
        bench.close()
    out["summary"] = summarize(out)
    return out


def code_state() -> dict[str, Any]:
    """The package the workers import: commit, and any uncommitted change to it."""

    def git(*argv: str) -> str:
        try:
            return subprocess.run(
                ["git", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "continuum_celery").splitlines()
    digest = hashlib.sha1(git("diff", "HEAD", "--", "continuum_celery").encode())
    for line in sorted(changed):
        if line.startswith("??"):
            path = REPO_ROOT / line[3:]
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for f in files:
                with contextlib.suppress(OSError):
                    digest.update(f.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted": [line.strip() for line in changed],
        "uncommitted_sha1": digest.hexdigest() if changed else None,
    }


def summarize(out: dict[str, Any]) -> dict[str, Any]:
    stages = out["parking"]
    runs = sum(s["runs"] for s in stages)
    elapsed = sum(s["elapsed_s"] for s in stages)
    parked = [c for c in out["checkpoints"] if c["kind"] == "parked"]
    first, last = parked[0], parked[-1]
    base = out["checkpoints"][0]

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    return {
        "parking_runs_per_s": runs / elapsed,
        "memory_rss_mb": {c["label"]: c["memory"]["rss_mb"] for c in out["checkpoints"]},
        "memory_rss_ratio_n_vs_first": ratio(last["memory"]["rss_mb"], first["memory"]["rss_mb"]),
        "memory_rss_ratio_n_vs_warm_up": ratio(last["memory"]["rss_mb"], base["memory"]["rss_mb"]),
        "memory_pss_ratio_n_vs_first": ratio(last["memory"]["pss_mb"], first["memory"]["pss_mb"]),
        "upkeep_p50_ms": {c["label"]: c["upkeep"]["p50_ms"] for c in out["checkpoints"]},
        "upkeep_p50_ratio_n_vs_first": ratio(last["upkeep"]["p50_ms"], first["upkeep"]["p50_ms"]),
        "upkeep_as_found_p50_ms": {
            c["label"]: c["upkeep_as_found"]["p50_ms"] for c in out["checkpoints"]
        },
        "upkeep_as_found_p50_ratio_n_vs_first": ratio(
            last["upkeep_as_found"]["p50_ms"], first["upkeep_as_found"]["p50_ms"]
        ),
        "signal_runs_per_s": out["signal"]["runs_per_s"],
    }


# --- reporting ------------------------------------------------------------------------


def render_parked(parked: dict[str, Any]) -> str:
    headers = [
        "checkpoint",
        "waiting",
        "worker RSS MB",
        "PSS MB",
        "upkeep p50 ms as found",
        "after ANALYZE",
        "p90 ms",
        "SQL/tick",
        "round trips/tick",
        "beat upkeep p50 ms",
        "idle commits/s",
        "idle worker CPU ms/s",
    ]
    rows = []
    for c in parked["checkpoints"]:
        up, bg, mem = c["upkeep"], c["background"], c["memory"]
        rows.append(
            [
                c["label"],
                f"{c['waiting']:,}",
                _fmt(mem["rss_mb"], 1),
                _fmt(mem["pss_mb"], 1),
                _fmt(c["upkeep_as_found"]["p50_ms"]),
                _fmt(up["p50_ms"]),
                _fmt(up["p90_ms"]),
                _fmt(up["sql_statements_per_tick"], 1),
                _fmt(up["round_trips_per_tick"], 1),
                _fmt(bg["beat_upkeep_p50_ms"]),
                _fmt(bg["commits_per_s"], 1),
                _fmt(bg["worker_cpu_ms_per_s"], 1),
            ]
        )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [_row(headers, widths), "  ".join("-" * w for w in widths)]
    lines += [_row(row, widths) for row in rows]
    s, sig = parked["summary"], parked["signal"]
    stages = ", ".join(f"{st['runs']:,} at {st['runs_per_s']:.0f}/s" for st in parked["parking"])
    last = parked["parking"][-1]
    lines += [
        "",
        f"parking: {s['parking_runs_per_s']:.0f} runs/s ({stages}); last stage"
        f" {last['msgs_per_run']:.2f} msgs, {last['commits_per_run']:.2f} commits,"
        f" {last['worker_cpu_ms_per_run']:.2f} worker CPU ms per run",
        f"worker memory: RSS at {parked['n']:,} parked / at the first checkpoint:"
        f" {_fmt(s['memory_rss_ratio_n_vs_first'], 3)}x"
        f" (PSS {_fmt(s['memory_pss_ratio_n_vs_first'], 3)}x);"
        f" / after warm-up: {_fmt(s['memory_rss_ratio_n_vs_warm_up'], 3)}x",
        f"upkeep tick: p50 at {parked['n']:,} parked / at the first checkpoint:"
        f" {_fmt(s['upkeep_as_found_p50_ratio_n_vs_first'])}x as found,"
        f" {_fmt(s['upkeep_p50_ratio_n_vs_first'])}x after ANALYZE"
        f" (autovacuum = {parked.get('autovacuum', '?')})",
        f"signal to completion: {sig['runs']:,} runs in {sig['elapsed_s']:.1f} s ="
        f" {sig['runs_per_s']:.0f} runs/s (signals sent at {sig['signals_per_s']:.0f}/s;"
        f" per run {sig['msgs_per_run']:.2f} msgs, {sig['commits_per_run']:.2f} commits,"
        f" {sig['worker_cpu_ms_per_run']:.2f} worker CPU ms; signal_received -> completed"
        f" p50 {sig['signal_to_completion_p50_ms']:.0f} ms, p99"
        f" {sig['signal_to_completion_p99_ms']:.0f} ms)",
    ]
    for c in parked["checkpoints"]:
        if "disturbed" in c["background"]:
            lines.append(f"WARNING: {c['label']}: {c['background']['disturbed']}")
    for st in [*parked["parking"], sig]:
        if "disturbed" in st:
            lines.append(f"WARNING: {st['disturbed']}; throughput numbers are not valid")
    return "\n".join(lines)
