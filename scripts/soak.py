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
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

SCRIPTS = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS.parent
REDIS_CLAIM_KEY = "continuum-test:claimed-db:{}"  # shared with tests/conftest.py
TERMINAL = ("completed", "failed", "cancelled", "terminated", "continued")
TERMINAL_EVENTS = ("activity_completed", "activity_failed", "timer_fired", "signal_received")
DECISIONS = ("activity_scheduled", "timer_started", "signal_awaited", "side_effect")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


# --- servers -----------------------------------------------------------------------


def create_database(pg: str) -> tuple[str, str]:
    name = f"cx_soak_{secrets.token_hex(4)}"
    with psycopg.connect(with_path(pg, "/postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, with_path(pg, f"/{name}")


def drop_database(pg: str, name: str) -> None:
    for _ in range(10):
        try:
            with psycopg.connect(
                with_path(pg, "/postgres"), autocommit=True, connect_timeout=5
            ) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            return
        except psycopg.Error as error:
            log(f"drop database {name} failed ({error}); retrying")
            time.sleep(1)


def claim_redis_db(server: str) -> tuple[int, str]:
    admin = redis.Redis.from_url(with_path(server, "/0"), socket_connect_timeout=5)
    token = f"soak-{os.getpid()}-{secrets.token_hex(4)}"
    for number in random.sample(range(1, 16), 15):
        if admin.set(REDIS_CLAIM_KEY.format(number), token, nx=True, ex=6 * 3600):
            return number, token
    raise SystemExit("every Redis database 1-15 is claimed by a test session; try later")


def release_redis_db(server: str, number: int, token: str) -> None:
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(with_path(server, f"/{number}")).flushdb()
        admin = redis.Redis.from_url(with_path(server, "/0"))
        if admin.get(REDIS_CLAIM_KEY.format(number)) == token.encode():
            admin.delete(REDIS_CLAIM_KEY.format(number))


def restart_postgres() -> float:
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        timeout=120,
    )
    return time.monotonic() - started


# --- workers -----------------------------------------------------------------------


class Worker:
    """One ``celery worker`` process group, killable with everything it forked."""

    def __init__(self, index: int, env: dict[str, str], state: Path, concurrency: int) -> None:
        self.index = index
        self.env = env
        self.state = state
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def log_path(self) -> Path:
        return self.state / f"worker{self.index}.log"

    def start(self) -> None:
        argv = [
            sys.executable, "-m", "celery", "-A", "soak_app", "worker",
            "--loglevel", "info", "--concurrency", str(self.concurrency), "--pool", "prefork",
            "--hostname", f"soak{self.index}-{os.getpid()}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=SCRIPTS,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        # Orphaned pool children stay in the group; make sure they are gone too.
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            time.sleep(0.05)
        self.proc = None

    def ready(self) -> bool:
        try:
            return self.log_path.read_text(errors="replace").count(" ready.") >= self.starts
        except FileNotFoundError:
            return False


def group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


# --- the workload ------------------------------------------------------------------


@dataclass
class Planned:
    run_id: str
    workflow: str
    args: list[Any]
    submit_at: float
    expected: Any = None
    signal_payload: Any = None
    signal_at: float | None = None
    submitted: bool = False
    signalled: bool = False


def plan(runs: int, window: float, rng: random.Random) -> list[Planned]:
    planned = []
    shapes = ["chained"] * 3 + ["parallel"] * 3 + ["timer"] * 2 + ["signal"] * 2 + ["mixed"]
    for n in range(runs):
        shape = rng.choice(shapes)
        tag = f"r{n}"
        at = window * n / max(runs, 1)
        run = Planned(str(uuid.uuid4()), f"soak.{shape}", [], at)
        if shape == "chained":
            length = rng.randint(2, 5)
            run.args, run.expected = [tag, length], sum(range(length))
        elif shape == "parallel":
            width = rng.randint(2, 6)
            run.args, run.expected = [tag, width], sum(range(width))
        elif shape == "timer":
            run.args, run.expected = [tag, round(rng.uniform(0.2, 2.0), 2)], 3
        elif shape == "signal":
            run.args = [tag]
            run.signal_payload = {"n": n}
            run.expected = run.signal_payload
        else:
            width = rng.randint(1, 3)
            run.args = [tag, width]
            run.signal_payload = f"go-{n}"
            run.expected = ["a", list(range(width)), run.signal_payload]
        if run.signal_payload is not None:
            # Some signals arrive before the workflow waits (buffered), some after.
            run.signal_at = at + rng.uniform(0.0, 4.0)
        planned.append(run)
    return planned


@dataclass
class Chaos:
    at: float
    action: str
    worker: int | None = None
    done: bool = False


def chaos_plan(window: float, workers: int, kill_every: float, rng: random.Random) -> list[Chaos]:
    events = []
    t = 1.5
    while t < window:
        events.append(Chaos(t, "kill", rng.randrange(workers)))
        t += rng.uniform(0.5, 1.5) * kill_every
    events.append(Chaos(window * 0.35, "flush"))
    events.append(Chaos(window * 0.6, "pg-restart"))
    return sorted(events, key=lambda e: e.at)


@dataclass
class Report:
    runs: int = 0
    finished: int = 0
    lost: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    body_executions: int = 0
    completions: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    never_executed: int = 0
    events: int = 0
    chaos: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    drain_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.gaps or self.failed or self.wrong) and (
            self.never_executed == 0
        )


# --- checking ----------------------------------------------------------------------


def retrying(what: str, fn: Any, attempts: int = 60) -> Any:
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as error:  # Postgres restarting, say
            if attempt == attempts - 1:
                raise
            log(f"{what} failed ({type(error).__name__}: {error}); retrying")
            time.sleep(1)
    return None


def unfinished(database_url: str, run_ids: list[str]) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM cx_runs WHERE id = ANY(%s::text[]) AND state = 'running'",
            (run_ids,),
        ).fetchone()
    return int(row[0]) if row else len(run_ids)


def check(database_url: str, planned: list[Planned], state: Path, report: Report) -> None:
    by_id = {p.run_id: p for p in planned}
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        runs = conn.execute(
            "SELECT id::text, state, result, error FROM cx_runs WHERE id = ANY(%s::text[])",
            ([p.run_id for p in planned],),
        ).fetchall()
        events = conn.execute(
            "SELECT run_id::text, seq, type, command_id, data FROM cx_events"
            " WHERE run_id = ANY(%s::text[]) ORDER BY run_id, seq",
            ([p.run_id for p in planned],),
        ).fetchall()
        report.attempts = dict(
            conn.execute("SELECT outcome, count(*) FROM cx_attempts GROUP BY outcome").fetchall()
        )
    history: dict[str, list[Any]] = collections.defaultdict(list)
    for row in events:
        history[row[0]].append(row)
    report.events = len(events)
    report.runs = len(planned)
    seen = {row[0] for row in runs}
    report.lost += [p.run_id for p in planned if p.run_id not in seen]  # never started
    completed_keys: collections.Counter[str] = collections.Counter()
    for run_id, run_state, result, error in runs:
        if run_state not in TERMINAL:
            report.lost.append(run_id)
            continue
        report.finished += 1
        if run_state != "completed":
            report.failed.append(f"{run_id} {run_state}: {error}")
        elif result != by_id[run_id].expected:
            report.wrong.append(f"{run_id}: {result!r} != {by_id[run_id].expected!r}")
        rows = history[run_id]
        if [r[1] for r in rows] != list(range(1, len(rows) + 1)):
            report.gaps.append(run_id)
        decided = collections.Counter(r[3] for r in rows if r[2] in DECISIONS)
        resolved = collections.Counter(r[3] for r in rows if r[2] in TERMINAL_EVENTS)
        if any(n > 1 for n in decided.values()) or any(n > 1 for n in resolved.values()):
            report.duplicated.append(run_id)
        tag = by_id[run_id].args[0]
        for r in rows:
            if r[2] == "activity_completed":
                completed_keys[f"{tag}:{r[3].rsplit(':', 1)[1]}"] += 1
                report.completions += 1
    bodies_path = state / "bodies.log"
    bodies = collections.Counter(bodies_path.read_text().split()) if bodies_path.exists() else {}
    report.body_executions = sum(bodies.values())
    # Activities are numbered per run by command ordinal, which matches the index
    # each workflow passes as the body key.
    report.never_executed = sum(1 for key in completed_keys if bodies.get(key, 0) == 0)
    report.deliveries = count_deliveries(state)


def count_deliveries(state: Path) -> dict[str, int]:
    """What the workers were handed, from their logs: useful work and duplicates."""
    counts: collections.Counter[str] = collections.Counter()
    for path in state.glob("worker*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if "] received" in line:
                if "continuum.advance[" in line:
                    counts["advance"] += 1
                else:
                    counts["activity"] += 1
            elif "ignored message:" in line:
                counts["activity ignored (duplicate or stale)"] += 1
            elif "raised unexpected" in line:
                counts["task errors"] += 1
    return dict(counts)


def describe_lost(database_url: str, run_ids: list[str]) -> None:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for run_id in run_ids[:10]:
            run = conn.execute(
                "SELECT workflow, state, wake_at, lease_owner, lease_expires_at, last_seq"
                " FROM cx_runs WHERE id = %s",
                (run_id,),
            ).fetchone()
            tail = conn.execute(
                "SELECT seq, type, command_id FROM cx_events WHERE run_id = %s"
                " ORDER BY seq DESC LIMIT 4",
                (run_id,),
            ).fetchall()
            tasks = conn.execute(
                "SELECT command_id, state, attempt, published_at FROM cx_tasks WHERE run_id = %s"
                " AND state IN ('ready', 'claimed')",
                (run_id,),
            ).fetchall()
            waits = conn.execute(
                "SELECT command_id, kind, fires_at FROM cx_waits WHERE run_id = %s"
                " AND NOT resolved",
                (run_id,),
            ).fetchall()
            log(f"  lost {run_id}: {run} last={tail} open tasks={tasks} waits={waits}")


# --- main --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    db_name, database_url = create_database(args.pg)
    report = Report()
    try:
        redis_db, redis_token = claim_redis_db(args.redis)
        try:
            soak(args, seed, state, database_url, with_path(args.redis, f"/{redis_db}"), report)
        finally:
            release_redis_db(args.redis, redis_db, redis_token)
    finally:
        if not args.keep:
            drop_database(args.pg, db_name)
    report.wall_seconds = time.monotonic() - started
    print_report(report, seed, state)
    if report.ok and not args.keep:
        shutil.rmtree(state, ignore_errors=True)
        print(f"(removed {state}; pass --keep to keep the logs)")
    return 0 if report.ok else 1


def soak(
    args: argparse.Namespace,
    seed: int,
    state: Path,
    database_url: str,
    broker_url: str,
    report: Report,
) -> None:
    rng = random.Random(seed)
    started = time.monotonic()
    redis.Redis.from_url(broker_url).flushdb()
    log(f"seed {seed}; database {urlsplit(database_url).path[1:]}; broker {broker_url}")
    log(f"logs in {state}")
    settings = {
        "CONTINUUM_DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "SOAK_STATE_DIR": str(state),
    }
    path = [str(SCRIPTS), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, **settings, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    os.environ.update(settings)
    sys.path[:0] = [str(SCRIPTS), str(REPO_ROOT)]
    cx = importlib.import_module("soak_app").cx
    cx.migrate()

    workers = [Worker(i, env, state, args.concurrency) for i in range(args.workers)]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        while not all(w.ready() for w in workers):
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not start; see {state}")
            time.sleep(0.1)
        log(f"{len(workers)} workers ready after {time.monotonic() - started:.1f}s")

        window = max(10.0, args.runs / args.rate)
        planned = plan(args.runs, window, rng)
        chaos = chaos_plan(window + 10.0, len(workers), args.kill_every, rng)
        if args.no_pg_restart:
            chaos = [c for c in chaos if c.action != "pg-restart"]
        run_phase(cx, planned, chaos, workers, broker_url, report, rng)
        drain(cx, planned, database_url, args, report)
        check(database_url, planned, state, report)
        if report.lost:
            describe_lost(database_url, report.lost)
    finally:
        for worker in workers:
            worker.kill()
        cx.db.dispose()


def drain(
    cx: Any, planned: list[Planned], database_url: str, args: argparse.Namespace, report: Report
) -> None:
    """Wait, bounded, until no run is left running."""
    started = time.monotonic()
    limit = args.deadline if args.deadline is not None else max(120.0, args.runs * 0.5)
    run_ids = [p.run_id for p in planned]
    last_log = 0.0
    while time.monotonic() - started < limit:
        send_signals(cx, planned, float("inf"))
        remaining = retrying("counting runs", lambda: unfinished(database_url, run_ids))
        if remaining == 0:
            break
        if time.monotonic() - last_log > 10:
            log(f"waiting for {remaining} unfinished runs")
            last_log = time.monotonic()
        time.sleep(0.5)
    report.drain_seconds = time.monotonic() - started


def run_phase(
    cx: Any,
    planned: list[Planned],
    chaos: list[Chaos],
    workers: list[Worker],
    broker_url: str,
    report: Report,
    rng: random.Random,
) -> None:
    """Submit on schedule, send signals, and misbehave, until all three are done."""
    begin = time.monotonic()
    restarts: list[tuple[float, Worker]] = []
    counts: collections.Counter[str] = collections.Counter()
    submitted = 0
    while True:
        now = time.monotonic() - begin
        for run in planned[submitted:]:
            if run.submit_at > now:
                break
            submit(cx, run)
            submitted += 1
        send_signals(cx, planned, now)
        for event in chaos:
            if event.done or event.at > now:
                continue
            event.done = True
            counts[event.action] += 1
            if event.action == "kill" and event.worker is not None:
                worker = workers[event.worker]
                if worker.proc is None:
                    continue
                worker.kill()
                worker.kills += 1
                restarts.append((now + rng.uniform(0.5, 2.0), worker))
                log(f"killed worker {worker.index} (-9, with its pool)")
            elif event.action == "flush":
                redis.Redis.from_url(broker_url).flushdb()
                log("flushed the broker database")
            elif event.action == "pg-restart":
                log("restarting Postgres")
                try:
                    log(f"Postgres restarted in {restart_postgres():.1f}s")
                except (OSError, subprocess.SubprocessError) as error:
                    counts["pg-restart-failed"] += 1
                    log(f"could not restart Postgres: {error}")
        for due, worker in list(restarts):
            if due <= now:
                restarts.remove((due, worker))
                worker.start()
                counts["restart"] += 1
        if (
            submitted == len(planned)
            and all(e.done for e in chaos)
            and not restarts
            and all(p.signalled or p.signal_at is None for p in planned)
        ):
            break
        time.sleep(0.02)
    report.chaos = dict(counts)
    log(f"submitted {submitted} runs in {time.monotonic() - begin:.1f}s; chaos {dict(counts)}")


def submit(cx: Any, run: Planned) -> None:
    def start() -> None:
        cx.start(run.workflow, *run.args, run_id=run.run_id, idempotency_key=run.run_id)

    retrying(f"starting {run.run_id}", start)
    run.submitted = True


def send_signals(cx: Any, planned: list[Planned], now: float) -> None:
    for run in planned:
        if run.signal_at is None or run.signalled or run.signal_at > now or not run.submitted:
            continue
        try:
            cx.signal(run.run_id, "go", run.signal_payload)
        except Exception as error:  # retried on the next pass
            log(f"signal to {run.run_id} failed ({type(error).__name__}); will retry")
            continue
        run.signalled = True


def print_report(report: Report, seed: int, state: Path) -> None:
    lines = [
        "",
        "===== soak report =====",
        f"runs submitted       {report.runs}",
        f"runs finished        {report.finished}",
        f"runs lost            {len(report.lost)}",
        f"runs failed          {len(report.failed)}",
        f"runs wrong result    {len(report.wrong)}",
        f"runs duplicated      {len(report.duplicated)} (a command decided or resolved twice)",
        f"runs with seq gaps   {len(report.gaps)}",
        f"journal events       {report.events}",
        f"body executions      {report.body_executions}",
        f"journal completions  {report.completions}",
        f"re-executed bodies   {report.body_executions - report.completions}"
        " (at-least-once: killed mid-body, or timed out)",
        f"completed, never run {report.never_executed}",
        f"attempts by outcome  {json.dumps(report.attempts, sort_keys=True)}",
        f"chaos                {json.dumps(report.chaos, sort_keys=True)}",
        f"worker deliveries    {json.dumps(report.deliveries, sort_keys=True)}",
        f"drain                {report.drain_seconds:.1f}s",
        f"wall time            {report.wall_seconds:.1f}s",
        f"seed                 {seed}",
        f"logs                 {state}",
    ]
    for title, items in (
        ("lost", report.lost),
        ("failed", report.failed),
        ("wrong", report.wrong),
        ("duplicated", report.duplicated),
        ("gaps", report.gaps),
    ):
        for item in items[:10]:
            lines.append(f"  {title}: {item}")
    lines.append("RESULT: " + ("OK" if report.ok else "FAILED"))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
