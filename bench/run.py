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
import contextlib
import importlib
import itertools
import json
import os
import platform
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import sqlalchemy.exc
from psycopg import sql

from bench.apps.common import COUNT_ENV
from bench.metrics import (
    STATS_SETTLE,
    Delta,
    Probe,
    percentile,
    set_settle_seconds,
    settle,
)
from bench.profiling import profiling
from bench.workloads import WORKLOAD_NAMES, parse_workloads, render_workloads, run_workloads
from tests.integration.harness import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
PLAIN_APP = "bench.apps.plain"
DURABLE_APP = "bench.apps.durable"
OPTIONS_ENV = "BENCH_CONTINUUM_OPTIONS"  # read by bench/apps/durable.py in the workers
# The key format the test suite uses to claim a Redis db number, so a bench run and a
# test session on the same server never flush each other's queues.
REDIS_CLAIM_KEY = "continuum-test:claimed-db:{}"
REDIS_CLAIM_TTL = 6 * 3600


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


# --- environment: database, redis db, workers -----------------------------------------


@dataclass
class Env:
    """A fresh database (plus one for DBOS) and a claimed Redis db; removed on close."""

    pg_server: str
    redis_server: str
    redis_db: int | None
    keep_db: bool
    name: str = field(default_factory=lambda: f"cx_bench_{secrets.token_hex(4)}")
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cx-bench-")))
    databases: list[str] = field(default_factory=list)
    db_number: int = 0
    _claim: str = ""

    @property
    def admin_url(self) -> str:
        return _with_path(self.pg_server, "/postgres")

    def db_url(self, name: str | None = None) -> str:
        return _with_path(self.pg_server, f"/{name or self.name}")

    @property
    def broker_url(self) -> str:
        return _with_path(self.redis_server, f"/{self.db_number}")

    @property
    def dbos_name(self) -> str:
        return f"{self.name}_dbos"

    def open(self) -> Env:
        self.create_database(self.name)
        admin = redis.Redis.from_url(_with_path(self.redis_server, "/0"))
        self._claim = f"bench-{os.getpid()}-{secrets.token_hex(4)}"
        if self.redis_db is not None:
            self.db_number = self.redis_db
        else:
            candidates = random.sample(range(1, 16), 15)
            self.db_number = next(
                (n for n in candidates
                 if admin.set(REDIS_CLAIM_KEY.format(n), self._claim, nx=True, ex=REDIS_CLAIM_TTL)),
                candidates[0],
            )  # fmt: skip
        admin.close()
        redis.Redis.from_url(self.broker_url).flushdb()
        return self

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.databases.append(name)

    def close(self, succeeded: bool) -> None:
        if succeeded:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        else:
            log(f"worker logs kept in {self.log_dir}")
        with contextlib.suppress(Exception):
            redis.Redis.from_url(self.broker_url).flushdb()
        with contextlib.suppress(Exception):
            admin = redis.Redis.from_url(_with_path(self.redis_server, "/0"))
            if admin.get(REDIS_CLAIM_KEY.format(self.db_number)) == self._claim.encode():
                admin.delete(REDIS_CLAIM_KEY.format(self.db_number))
        if self.keep_db:
            log(f"kept databases {self.databases}")
            return
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                for name in self.databases:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,),
                    )
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        except psycopg.Error as error:
            log(f"could not drop {self.databases}: {error}")

    @property
    def count_dir(self) -> Path:
        return self.log_dir / "publish-counts"

    def worker_env(self) -> dict[str, str]:
        self.count_dir.mkdir(parents=True, exist_ok=True)
        return {
            "CELERY_BROKER_URL": self.broker_url,
            "CONTINUUM_DATABASE_URL": self.db_url(),
            COUNT_ENV: str(self.count_dir),
        }


class Workers:
    """``count`` real ``celery worker`` subprocesses of one app; the first may run beat.

    With ``events`` every worker sends task events (``-E``), as it would for Flower.
    """

    def __init__(
        self,
        env: Env,
        probe: Probe,
        app: str,
        count: int,
        concurrency: int,
        beat: bool,
        events: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.probe = probe
        self.procs = [
            WorkerProcess(
                app,
                concurrency=concurrency,
                pool="prefork",
                beat=beat and i == 0,
                env={**env.worker_env(), **(extra_env or {})},
                log_dir=env.log_dir,
                name=f"{app.rsplit('.', 1)[-1]}{i + 1}-{os.getpid()}",
                extra_args=["-E"] if events else [],
            )
            for i in range(count)
        ]

    def __enter__(self) -> Workers:
        try:
            for proc in self.procs:
                proc.start(timeout=60)
        except Exception:
            self.kill()
            raise
        self.probe.worker_pgids = [p.pid for p in self.procs]
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            for proc in self.procs:
                log(f"----- {proc.log_path} (tail) -----\n{proc.log_tail(40)}")
        self.kill()

    def kill(self) -> None:
        self.probe.worker_pgids = []
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.kill()

    def pool_children(self) -> list[int]:
        children = []
        for proc in self.procs:
            for pid in proc.pids():
                if pid != proc.pid:
                    children.append(pid)
        return children


# --- measured windows -----------------------------------------------------------------


@dataclass
class Window:
    """One loaded run: counters before (idle and loaded) and after."""

    idle: Delta
    loaded: Delta
    t0: float
    t_end: float


def measure(
    probe: Probe, idle_seconds: float, submit: Callable[[], Any], wait: Callable[[Any], float]
) -> Window:
    """Idle window (background rate), then submit everything at once and wait.

    ``wait`` returns the wall-clock time the last unit of work completed.
    """
    settle()
    a = probe.snapshot()
    time.sleep(idle_seconds)
    b = probe.snapshot()
    t0 = time.time()
    handles = submit()
    t_end = wait(handles)
    settle()
    c = probe.snapshot()
    return Window(Probe.delta(a, b), Probe.delta(b, c), t0, t_end)


def summarize_window(
    window: Window, steps: int, database: str | None, broker: bool
) -> dict[str, Any]:
    loaded, idle = window.loaded, window.idle
    elapsed = window.t_end - window.t0
    commits = loaded.commits.get(database, 0) if database else 0
    idle_commit_rate = (idle.commits.get(database, 0) / idle.seconds) if database else 0.0
    idle_publish_rate = idle.published / idle.seconds
    cpu = dict(loaded.cpu)
    ours = sum(v for k, v in cpu.items() if k != "machine")
    cpu["other_processes"] = max(0.0, cpu.get("machine", 0.0) - ours)
    out: dict[str, Any] = {
        "steps": steps,
        "elapsed_s": elapsed,
        "steps_per_s": steps / elapsed,
        "pg_commits": commits,
        "pg_rollbacks": loaded.rollbacks.get(database, 0) if database else 0,
        "commits_per_step": commits / steps,
        "write_xacts_per_step": loaded.xids / steps,
        # Statements sent through SQLAlchemy by this run's processes (pings and COMMIT
        # are not included; they are in xact_commit).
        "sql_statements_per_step": loaded.statements / steps,
        "commits_per_step_net_of_idle": max(0.0, commits - idle_commit_rate * loaded.seconds)
        / steps,
        "idle_commits_per_s": idle_commit_rate,
        "window_s": loaded.seconds,
        # Exact: this run's processes counted their own publishes (after_task_publish).
        "published": loaded.published if broker else None,
        "msgs_per_step": loaded.published / steps if broker else None,
        "msgs_per_step_net_of_idle": (
            max(0.0, loaded.published - idle_publish_rate * loaded.seconds) / steps
            if broker
            else None
        ),
        "idle_msgs_per_s": idle_publish_rate,
        # Broker side, server-wide: includes any other client of the same Redis server.
        "lpush_calls": loaded.pushes,
        "lpush_per_step": loaded.pushes / steps,
        "idle_lpush_per_s": idle.pushes / idle.seconds,
        "cpu_s": cpu,
        "cpu_ms_per_step": {k: 1000 * v / steps for k, v in cpu.items()},
    }
    if loaded.pg_restarted or idle.pg_restarted:
        out["disturbed"] = "the Postgres server restarted during the window"
    return out


def latency_summary(per_step_s: list[float], e2e_per_step_s: list[float]) -> dict[str, Any]:
    ms = [1000 * v for v in per_step_s]
    e2e = [1000 * v for v in e2e_per_step_s]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "e2e_per_step_p50_ms": percentile(e2e, 50),
        "e2e_per_step_p99_ms": percentile(e2e, 99),
    }


def _deadline(units: int) -> float:
    return time.monotonic() + 60 + 0.5 * units


# --- plain celery chain ------------------------------------------------------------------


class PlainDriver:
    def __init__(self, env: Env) -> None:
        self.mod: ModuleType = importlib.import_module(PLAIN_APP)
        self.redis = redis.Redis.from_url(env.broker_url)

    def submit(self, n: int, steps: int) -> dict[str, float]:
        self.redis.delete(self.mod.DONE_KEY)
        submitted = {}
        for _ in range(n):
            chain_id = uuid.uuid4().hex
            submitted[chain_id] = time.time()
            self.mod.make_chain(chain_id, steps).apply_async()
        return submitted

    def wait(self, submitted: dict[str, float], units: int) -> dict[str, float]:
        deadline = _deadline(units)
        while self.redis.zcard(self.mod.DONE_KEY) < len(submitted):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"plain chains: {self.redis.zcard(self.mod.DONE_KEY)}/{len(submitted)} done"
                )
            time.sleep(0.01)
        done = self.redis.zrange(self.mod.DONE_KEY, 0, -1, withscores=True)
        return {k.decode(): float(v) for k, v in done}

    def run_one(self, steps: int) -> float:
        """One chain on its own; end-to-end seconds."""
        submitted = self.submit(1, steps)
        done = self.wait(submitted, steps)
        ((chain_id, t_submit),) = submitted.items()
        return done[chain_id] - t_submit


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


# --- continuum ---------------------------------------------------------------------------


class RolledBackReads:
    """A polling connection whose reads all end in ROLLBACK, so polling never adds to
    ``xact_commit``; it reconnects if the server restarted meanwhile."""

    def __init__(self, url: str, label: str) -> None:
        self.url, self.label = url, label
        self.conn = psycopg.connect(url, autocommit=False)

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        for attempt in range(60):
            try:
                try:
                    return self.conn.execute(query, params).fetchall()  # type: ignore[arg-type]
                finally:
                    self.conn.rollback()
            except psycopg.OperationalError as error:
                if attempt == 0:
                    log(f"{self.label}: lost the polling connection ({error}); reconnecting")
                time.sleep(0.5)
                with contextlib.suppress(psycopg.Error):
                    self.conn.close()
                    self.conn = psycopg.connect(self.url, autocommit=False)
        raise RuntimeError(f"{self.label}: could not reach Postgres for 30 s")

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


class DurableDriver:
    TERMINAL = ("completed", "failed", "cancelled")

    def __init__(self, env: Env) -> None:
        self.mod: ModuleType = importlib.import_module(DURABLE_APP)
        self.mod.cx.migrate()
        self.reads = RolledBackReads(env.db_url(), "continuum")

    def submit(self, n: int, steps: int) -> list[str]:
        return [self._start(steps) for _ in range(n)]

    def _start(self, steps: int) -> str:
        """Start one run; a start retried with the same run id returns the same run."""
        run_id = str(uuid.uuid4())
        for attempt in range(60):
            try:
                return str(self.mod.flow.apply_async([steps], run_id=run_id).run_id)
            except sqlalchemy.exc.OperationalError as error:
                if attempt == 0:
                    log(f"continuum: start failed ({type(error).__name__}); retrying")
                time.sleep(0.5)
        raise RuntimeError("continuum: could not start a run for 30 s")

    def _query(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self.reads.query(query, params)

    def wait(self, run_ids: list[str], units: int) -> float:
        deadline = _deadline(units)
        while True:
            rows = self._query(
                "SELECT count(*), count(*) FILTER (WHERE state <> 'completed'),"
                " extract(epoch FROM max(completed_at))"
                " FROM cx_runs WHERE id = ANY(%s::text[]) AND state = ANY(%s)",
                (run_ids, list(self.TERMINAL)),
            )
            done, bad, last = rows[0]
            if bad:
                errors = self._query(
                    "SELECT id::text, state, error FROM cx_runs"
                    " WHERE id = ANY(%s::text[]) AND state <> 'completed'"
                    " AND state = ANY(%s) LIMIT 5",
                    (run_ids, list(self.TERMINAL)),
                )
                raise RuntimeError(f"continuum: {bad} runs did not complete: {errors}")
            if done >= len(run_ids):
                return float(last)
            if time.monotonic() > deadline:
                raise TimeoutError(f"continuum: {done}/{len(run_ids)} runs done")
            time.sleep(0.02)

    def step_latencies(self, run_ids: list[str]) -> tuple[list[float], list[float]]:
        """Per-step deltas from the journal, and end-to-end time / S per run.

        A step is ``activity_scheduled`` -> the next ``activity_scheduled`` (its
        activity message, claim, body, completion, the advance message and the
        replay that schedules the next one); the last step ends at the run's
        ``completed_at``. End-to-end is ``created_at`` -> ``completed_at``.
        """
        deltas: list[float] = []
        e2e: list[float] = []
        for run_id in run_ids:
            (created, completed, steps) = self._query(
                "SELECT extract(epoch FROM created_at), extract(epoch FROM completed_at),"
                " (args->>0)::int FROM cx_runs WHERE id = %s",
                (run_id,),
            )[0]
            stamps = [
                float(r[0])
                for r in self._query(
                    "SELECT extract(epoch FROM created_at) FROM cx_events"
                    " WHERE run_id = %s AND type = 'activity_scheduled' ORDER BY seq",
                    (run_id,),
                )
            ]
            stamps.append(float(completed))
            deltas.extend(b - a for a, b in itertools.pairwise(stamps))
            e2e.append((float(completed) - float(created)) / steps)
        return deltas, e2e

    def wake_costs(self, run_id: str) -> list[float]:
        """Per step, ``activity_completed`` -> the next decision's ``created_at``.

        That is the replay side of a step alone: the wakeup message, leasing and
        loading the history, replaying from the top, and committing the decision.
        """
        rows = self._query(
            "SELECT type, extract(epoch FROM created_at) FROM cx_events"
            " WHERE run_id = %s ORDER BY seq",
            (run_id,),
        )
        costs, completed_at = [], None
        for type_, at in rows:
            if type_ == "activity_completed":
                completed_at = float(at)
            elif completed_at is not None and type_ == "activity_scheduled":
                costs.append(float(at) - completed_at)
                completed_at = None
        return costs

    def run_one(self, steps: int) -> str:
        run_ids = self.submit(1, steps)
        self.wait(run_ids, steps)
        return run_ids[0]

    def close(self) -> None:
        self.reads.close()
        self.mod.cx.db.dispose()


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
            driver.wait(driver.submit(args.warmup, steps), args.warmup * steps)  # warm-up
            log(f"continuum: {workflows} workflows x {steps} steps, all at once")
            with profiling(args.profile, w.pool_children(), profiles):
                window = measure(
                    probe,
                    args.idle_window,
                    lambda: driver.submit(workflows, steps),
                    lambda ids: driver.wait(ids, workflows * steps),
                )
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


# --- DBOS (optional peer) ------------------------------------------------------------------


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


# --- growth -------------------------------------------------------------------------


def bench_growth(env: Env, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.growth.split(",") if s.strip()]
    reps = {n: (args.growth_reps if n <= 100 else 1) for n in sizes}
    out: dict[str, Any] = {"sizes": sizes, "celery_chain": {}, "continuum": {}}

    plain = PlainDriver(env)
    log(f"growth: plain celery chain, sizes {sizes}")
    with Workers(env, probe, PLAIN_APP, args.workers, args.concurrency, False, args.events):
        plain.wait(plain.submit(args.warmup, 5), args.warmup * 5)  # warm every pool child
        for n in sizes:
            if n > args.growth_celery_max:
                continue
            per_step = [plain.run_one(n) / n for _ in range(reps[n])]
            out["celery_chain"][str(n)] = {"per_step_ms": 1000 * percentile(per_step, 50)}
            log(f"growth: celery chain {n}: {out['celery_chain'][str(n)]['per_step_ms']:.2f} ms")

    durable = DurableDriver(env)
    log(f"growth: continuum, sizes {sizes}")
    try:
        with Workers(env, probe, DURABLE_APP, args.workers, args.concurrency, False, args.events):
            durable.wait(durable.submit(args.warmup, 5), args.warmup * 5)
            for n in sizes:
                per_step, commits, cpu, first, last = [], [], [], [], []
                for _ in range(reps[n]):
                    for _attempt in range(3):  # measure again if Postgres restarted
                        settle()
                        before = probe.snapshot()
                        run_ids = durable.submit(1, n)
                        durable.wait(run_ids, n * n // 50 + n)
                        settle()
                        after = probe.snapshot()
                        delta = Probe.delta(before, after)
                        if not delta.pg_restarted:
                            break
                        log(f"growth: Postgres restarted during the {n}-step run; again")
                    _deltas, e2e = durable.step_latencies(run_ids)
                    per_step.append(e2e[0])
                    commits.append(delta.commits.get(env.name, 0) / n)
                    cpu.append(delta.cpu["workers"] / n)
                    wakes = durable.wake_costs(run_ids[0])
                    tenth = max(1, len(wakes) // 10)
                    first.append(percentile(wakes[:tenth], 50))
                    last.append(percentile(wakes[-tenth:], 50))
                out["continuum"][str(n)] = {
                    "per_step_ms": 1000 * percentile(per_step, 50),
                    "commits_per_step": percentile(commits, 50),
                    "worker_cpu_ms_per_step": 1000 * percentile(cpu, 50),
                    # completed -> next scheduled: wakeup, lease + history, replay, commit
                    "replay_side_ms_first_tenth": 1000 * percentile(first, 50),
                    "replay_side_ms_last_tenth": 1000 * percentile(last, 50),
                }
                log(f"growth: continuum {n}: {out['continuum'][str(n)]['per_step_ms']:.2f} ms")
    finally:
        durable.close()
    for system in ("celery_chain", "continuum"):
        rows = out[system]
        base = rows.get(str(sizes[0]))
        for row in rows.values():
            row["ratio_vs_first"] = row["per_step_ms"] / base["per_step_ms"] if base else None
    return out


# --- reporting ------------------------------------------------------------------------


SYSTEMS = (
    ("celery_chain", "plain celery chain"),
    ("continuum", "continuum"),
    ("continuum_guard_off", "continuum, guard off"),
    ("dbos", "dbos"),
)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "—"
    if base == 0:
        return "n/a (base 0)" if value else "1.00x"
    return f"{value / base:.2f}x"


def metrics_of(result: dict[str, Any]) -> dict[str, float | None]:
    return {
        "steps/s": result["steps_per_s"],
        "p50 ms/step": result["latency"]["p50_ms"],
        "p99 ms/step": result["latency"]["p99_ms"],
        "commits/step": result["commits_per_step"],
        "msgs/step": result["msgs_per_step"],
    }


def render_table(results: dict[str, Any]) -> str:
    headers = ["system", "steps/s", "p50 ms/step", "p99 ms/step", "commits/step", "msgs/step"]
    rows: list[list[str]] = []
    base = results["systems"].get("celery_chain")
    base_metrics = metrics_of(base) if base and "skipped" not in base else None
    for key, label in SYSTEMS:
        result = results["systems"].get(key)
        if result is None:
            continue
        if "skipped" in result:
            rows.append([label, f"skipped: {result['skipped']}", "", "", "", ""])
            continue
        m = metrics_of(result)
        rows.append([label] + [_fmt(v, 1 if k == "steps/s" else 2) for k, v in m.items()])
        if base_metrics is not None and key != "celery_chain":
            rows.append(
                ["  vs celery chain"] + [_ratio(m[k], base_metrics[k]) for k in base_metrics]
            )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [_row(headers, widths), "  ".join("-" * w for w in widths)]
    for row in rows:
        if len(row[1]) > widths[1]:  # a "skipped" note spans the row
            lines.append(f"{row[0].ljust(widths[0])}  {row[1]}")
        else:
            lines.append(_row(row, widths))
    return "\n".join(lines)


def _row(cells: list[str], widths: list[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)


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
    rows = []
    for n in growth["sizes"]:
        cx = growth["continuum"].get(str(n), {})
        ce = growth["celery_chain"].get(str(n), {})
        rows.append(
            [
                str(n),
                _fmt(cx.get("per_step_ms")),
                _fmt(cx.get("ratio_vs_first")) + "x",
                _fmt(cx.get("commits_per_step")),
                _fmt(cx.get("worker_cpu_ms_per_step")),
                f"{_fmt(cx.get('replay_side_ms_first_tenth'))} / "
                f"{_fmt(cx.get('replay_side_ms_last_tenth'))}",
                _fmt(ce.get("per_step_ms")),
                _fmt(ce.get("ratio_vs_first")) + "x",
            ]
        )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [_row(headers, widths), "  ".join("-" * w for w in widths)]
    lines += [_row(row, widths) for row in rows]
    return "\n".join(lines)


def environment_info(env: Env) -> dict[str, Any]:
    import celery

    with psycopg.connect(env.admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg_version = row[0] if row else "?"
        sync = conn.execute("SHOW synchronous_commit").fetchone()
    info = redis.Redis.from_url(env.broker_url).info("server")
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "celery": celery.__version__,
        "postgres": pg_version,
        "postgres_synchronous_commit": sync[0] if sync else "?",
        "redis": info.get("redis_version"),
        "database": env.name,
        "redis_db": env.db_number,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
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
    p.add_argument("--growth", help="replay growth mode: comma-separated step counts")
    p.add_argument("--growth-reps", type=int, default=5, help="repetitions for sizes <= 100")
    p.add_argument(
        "--growth-celery-max", type=int, default=1000, help="largest celery chain in growth mode"
    )
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
    p.add_argument(
        "--pg-server",
        default=os.environ.get("CONTINUUM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/"),
    )
    p.add_argument(
        "--redis-server", default=os.environ.get("CONTINUUM_TEST_REDIS", "redis://127.0.0.1:6379")
    )
    p.add_argument("--redis-db", type=int, help="Redis db number (default: claim a free 1-15)")
    p.add_argument("--keep-db", action="store_true", help="keep the databases afterwards")
    args = p.parse_args(argv)
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
    if args.steps < 1 or args.workflows < 1 or args.latency_runs < 1:
        p.error("--workflows, --steps and --latency-runs must be positive")
    if args.parked is not None and (args.parked < 1 or args.upkeep_ticks < 1):
        p.error("--parked and --upkeep-ticks must be positive")
    if not 0 <= args.parked_timers < 1:
        p.error("--parked-timers must be in [0, 1)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
        if args.workload is not None:
            results["workloads"] = run_workloads(env, probe, args)
            output = args.output or RESULTS_DIR / "workloads.json"
        elif args.parked is not None:
            from bench.parked import bench_parked

            results["parked"] = bench_parked(env, probe, args)
            output = args.output or RESULTS_DIR / "parked.json"
        elif args.growth:
            results["growth"] = bench_growth(env, probe, args)
            output = args.output or RESULTS_DIR / "growth.json"
        else:
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
            results["systems"] = systems
            results["ratios_vs_celery_chain"] = {
                key: {
                    k: (v / b if v is not None and b else None)
                    for (k, v), b in zip(
                        metrics_of(systems[key]).items(),
                        metrics_of(systems["celery_chain"]).values(),
                        strict=True,
                    )
                }
                for key in ("continuum", "continuum_guard_off", "dbos")
                if key in systems and "skipped" not in systems[key]
            }
            output = args.output or RESULTS_DIR / "latest.json"
        succeeded = True
    finally:
        probe.close()
        env.close(succeeded)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")

    if args.workload is not None:
        print(render_workloads(results["workloads"], results["environment"]))
    elif args.parked is not None:
        from bench.parked import render_parked

        print(
            f"\nparked runs: {args.parked:,} ({results['parked']['signal_runs']:,} waiting on a"
            f" signal, {results['parked']['timer_runs']:,} on a"
            f" {results['parked']['timer_seconds']:.0f} s timer), {args.workers} worker(s)"
            f" -c {args.concurrency} -B, Postgres {results['environment']['postgres']}"
        )
        print(render_parked(results["parked"]))
    elif args.growth:
        print(f"\nreplay growth: one workflow of N sequential no-op steps, -c {args.concurrency}")
        print(render_growth(results["growth"]))
    else:
        print(
            f"\n{args.workflows} workflows x {args.steps} steps, {args.workers} worker(s) "
            f"-c {args.concurrency}, Redis broker, Postgres {results['environment']['postgres']}"
        )
        print(render_table(results))
        _print_notes(results)
    print(f"\nresults: {output}")
    return 0


def _print_notes(results: dict[str, Any]) -> None:
    systems = {k: v for k, v in results["systems"].items() if "skipped" not in v}
    print(
        "\nsteps/s: loaded throughput, all W submitted at once. p50/p99 ms/step: separate"
        " sequential single-workflow runs.\ncommits/step: pg_stat_database.xact_commit delta"
        " / steps. msgs/step: broker messages published / steps (counted by every bench"
        "\nprocess via after_task_publish; cross-checked against Redis INFO commandstats LPUSH)."
    )
    print("\nbreakdown (same windows):")
    for key, label in SYSTEMS:
        r = systems.get(key)
        if r is None:
            continue
        line = (
            f"  {label}: {r['commits_per_step']:.2f} commits/step ="
            f" {r['write_xacts_per_step']:.2f} writing + "
            f"{max(0.0, r['commits_per_step'] - r['write_xacts_per_step']):.2f} read-only;"
            f" {r['sql_statements_per_step']:.2f} SQL statements/step;"
            f" idle background {r['idle_commits_per_s']:.1f} commits/s"
        )
        if r["published"] is not None:
            line += (
                f"; {r['published']} messages published, {r['idle_msgs_per_s']:.1f}/s idle;"
                f" Redis LPUSH delta {r['lpush_calls']}"
            )
        if "expected_msgs" in r:
            line += f" (expected {r['expected_msgs']})"
        print(line)
    print("  CPU ms/step, workers / bench process / postgres / redis / other processes:")
    for key, label in SYSTEMS:
        if key in systems:
            cpu = systems[key]["cpu_ms_per_step"]
            print(
                f"    {label}: {cpu['workers']:.2f} / {cpu['bench_process']:.2f} /"
                f" {cpu['postgres']:.2f} / {cpu['redis']:.2f} / {cpu['other_processes']:.2f}"
            )
            if cpu["other_processes"] > 0.2 * cpu["machine"]:
                print(
                    f"    note: other processes used {cpu['other_processes']:.2f} of"
                    f" {cpu['machine']:.2f} CPU ms/step on this machine: numbers are noisy"
                )
    _print_guard_cost(systems)
    for key, label in SYSTEMS:
        r = systems.get(key)
        if r is not None and "disturbed" in r:
            print(f"  WARNING: {label}: {r['disturbed']}; its numbers are not valid")
        if r is None or r["published"] is None:
            continue
        if abs(r["lpush_calls"] - r["published"]) > max(2, 0.01 * r["published"]):
            print(
                f"  note: {label}: Redis LPUSH delta {r['lpush_calls']} != {r['published']}"
                " messages this run published: another client pushed to the same Redis"
                " server during the window (msgs/step uses the exact count)."
            )


def _print_guard_cost(systems: dict[str, Any]) -> None:
    """``--guard-off``: the determinism guard's cost, from two continuum windows."""
    on, off = systems.get("continuum"), systems.get("continuum_guard_off")
    if on is None or off is None:
        return
    p50_on, p50_off = on["latency"]["p50_ms"], off["latency"]["p50_ms"]
    cpu_on, cpu_off = on["cpu_ms_per_step"]["workers"], off["cpu_ms_per_step"]["workers"]
    print(
        f"  determinism guard: steps/s on/off {on['steps_per_s'] / off['steps_per_s']:.3f}x;"
        f" p50 ms/step {p50_on:.3f} on, {p50_off:.3f} off ({p50_on - p50_off:+.3f});"
        f" worker CPU ms/step {cpu_on:.2f} on, {cpu_off:.2f} off"
    )


if __name__ == "__main__":
    sys.exit(main())
