"""What every workload shares: its workers, its counted windows and the continuum client.

A counted window is: quiesce (Postgres vacuums and checkpoints what earlier work
wrote, so that neither lands in this window: on two shared cores either steals the
measured work's CPU), settle (every commit made so far is visible in
``pg_stat_database``), a short idle window for the background rate (upkeep), the
work, settle again. Per unit it reports commits, rollbacks, messages published and
SQL statements, raw and net of the idle rate.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from bench.metrics import Delta, Probe, settle
from bench.profiling import profiling
from tests.integration.harness import WorkerProcess

T = TypeVar("T")
OPTIONS_ENV = "BENCH_CONTINUUM_OPTIONS"
CX_APP = "bench.apps.shapes"
PLAIN_APP = "bench.apps.shapes_plain"
TERMINAL = ["completed", "failed", "cancelled", "terminated"]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Ctx:
    """The run's environment (``bench.environment.Env``), its counters and its arguments."""

    env: Any
    probe: Probe
    args: argparse.Namespace
    dbos: Any = None
    """The run's one DBOS peer (``bench.workloads.dbos_side.DbosSide``), set by run_workloads."""

    def units(self, default: int, quick: int) -> int:
        return int(self.args.units or (quick if self.args.quick else default))


@contextlib.contextmanager
def workers(
    ctx: Ctx, app: str, queues: Sequence[str] | None = None, options: dict[str, Any] | None = None
) -> Iterator[WorkerProcess]:
    """One ``celery worker`` of ``app`` (prefork, ``--concurrency``), killed on exit."""
    env = ctx.env.worker_env() | ({OPTIONS_ENV: json.dumps(options)} if options else {})
    name = f"{app.rsplit('.', 1)[-1]}-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    proc = WorkerProcess(
        app, concurrency=ctx.args.concurrency, queues=queues, env=env,
        log_dir=ctx.env.log_dir, name=name,
    )  # fmt: skip
    proc.start(timeout=60)
    ctx.probe.worker_pgids = [proc.pid]
    try:
        yield proc
    except BaseException:
        log(f"----- {proc.log_path} (tail) -----\n{proc.log_tail(40)}")
        raise
    finally:
        ctx.probe.worker_pgids = []
        with contextlib.suppress(Exception):
            proc.kill()


@contextlib.contextmanager
def profiled(ctx: Ctx, proc: WorkerProcess, into: dict[str, Any]) -> Iterator[None]:
    """With ``--profile``, py-spy the worker's pool children; the files go into ``into``."""
    paths: list[str] = []
    children = [pid for pid in proc.pids() if pid != proc.pid]
    with profiling(bool(getattr(ctx.args, "profile", False)), children, paths):
        yield
    if paths:
        into["profiles"] = paths


def counted(
    ctx: Ctx,
    units: int,
    work: Callable[[], T],
    client: CxClient | None = None,
    database: str | None = None,
) -> tuple[T, dict[str, Any]]:
    """Run ``work`` inside a counted window; its value and the per-unit counts.

    ``client``'s own polls (each a rolled-back read) are taken out of the rollbacks.
    Commits are ``database``'s (the DBOS peer's), the run's database by default.
    """
    quiesce(ctx, database or ctx.env.name)
    settle()
    before_idle = ctx.probe.snapshot()
    time.sleep(ctx.args.idle_window)
    start = ctx.probe.snapshot()
    polls = client.polls if client else 0
    value = work()
    polls = (client.polls if client else 0) - polls
    settle()
    end = ctx.probe.snapshot()
    idle, loaded = Probe.delta(before_idle, start), Probe.delta(start, end)
    return value, per_unit(ctx, idle, loaded, units, polls, database or ctx.env.name)


def quiesce(ctx: Ctx, database: str) -> None:
    """Vacuum and analyze ``database`` and checkpoint the server, before a window.

    Left alone, autovacuum and the checkpointer work off an earlier workload's
    writes (the starts workload's 1,000 runs, say) inside the next one's window:
    run after the starts, the signals measured 0.84 ms of Postgres CPU per signal
    without this and 0.68 ms with it (590 against 664 signals/s).
    """
    with psycopg.connect(ctx.env.db_url(database), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def per_unit(
    ctx: Ctx, idle: Delta, loaded: Delta, units: int, polls: int, name: str
) -> dict[str, Any]:
    idle_rate = idle.commits.get(name, 0) / idle.seconds if idle.seconds else 0.0
    commits = loaded.commits.get(name, 0)
    out = {
        "units": units,
        "commits_per_unit": commits / units,
        "commits_per_unit_net_of_idle": max(0.0, commits - idle_rate * loaded.seconds) / units,
        "rollbacks_per_unit": max(0, loaded.rollbacks.get(name, 0) - polls) / units,
        "bench_polls": polls,
        "msgs_per_unit": loaded.published / units,
        "sql_statements_per_unit": loaded.statements / units,
        "idle_commits_per_s": idle_rate,
        "window_s": loaded.seconds,
        "worker_cpu_ms_per_unit": 1000 * loaded.cpu.get("workers", 0.0) / units,
        "cpu_ms_per_unit": {k: round(1000 * v / units, 3) for k, v in loaded.cpu.items()},
    }
    if loaded.pg_restarted:
        out["disturbed"] = "the Postgres server restarted during the window"
    return out


class CxClient:
    """The bench process' side of continuum: starts runs, polls them with rolled-back reads."""

    def __init__(self, ctx: Ctx) -> None:
        self.mod: Any = importlib.import_module(CX_APP)
        self.mod.cx.migrate()
        self.url = ctx.env.db_url()
        self.conn = psycopg.connect(self.url, autocommit=False)
        self.polls = 0

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Reads end in ROLLBACK, so polling adds nothing to ``xact_commit``."""
        for _attempt in range(60):
            self.polls += 1
            try:
                try:
                    return self.conn.execute(query, params).fetchall()
                finally:
                    self.conn.rollback()
            except psycopg.OperationalError:
                self._reconnect()  # the server restarted; the window says so
        raise RuntimeError("continuum: could not reach Postgres for 30 s")

    def _reconnect(self) -> None:
        time.sleep(0.5)
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
            self.conn = psycopg.connect(self.url, autocommit=False)

    def start(self, workflow: Any, *args: Any) -> str:
        return str(workflow.apply_async(list(args)).run_id)

    def wait(self, run_ids: list[str], timeout: float) -> float:
        """Epoch of the last completion once all ``run_ids`` completed."""
        deadline = time.monotonic() + timeout
        while True:
            ((done, bad, last),) = self.query(
                "SELECT count(*), count(*) FILTER (WHERE state <> 'completed'),"
                " extract(epoch FROM max(completed_at)) FROM cx_runs"
                " WHERE id = ANY(%s::text[]) AND state = ANY(%s)",
                (run_ids, TERMINAL),
            )
            if bad:
                raise RuntimeError(f"continuum: {bad} runs did not complete")
            if done >= len(run_ids):
                return float(last)
            if time.monotonic() > deadline:
                raise TimeoutError(f"continuum: {done}/{len(run_ids)} runs done")
            time.sleep(0.01)

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
        self.mod.cx.db.dispose()


def ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None
