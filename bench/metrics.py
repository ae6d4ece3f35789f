"""Counters the bench reads around a measured window, and the statistics it reports.

- Postgres: ``pg_stat_database.xact_commit`` / ``xact_rollback`` of one database, read
  from a connection to the ``postgres`` database so the reads never count themselves.
  Since Postgres 15 a backend flushes its counters to the shared statistics when it
  goes idle, but at most once a second (``PGSTAT_MIN_INTERVAL``); a backend that goes
  idle within that second holds them until a 10 s idle timeout
  (``PGSTAT_IDLE_INTERVAL``) fires. No client can flush another backend's counters
  (``pg_stat_force_next_flush()`` acts on its own backend only), so the counter of an
  idle pool connection can lag 10 s. The bench therefore waits ``settle_seconds()``
  (``STATS_SETTLE``, 11 s, the idle timeout plus a margin; ``--stats-settle``) before
  each read that closes or opens a measured window: every transaction committed before
  the wait is then counted, whatever its backend did afterwards.
- Redis: ``INFO commandstats`` ``calls`` of LPUSH and RPUSH. Kombu's Redis transport
  publishes every message with one LPUSH (RPUSH only when it gives back unacked
  messages). Commandstats are server-wide, so any other client pushing to the same
  server during a window is counted too; the bench reports an idle-window rate so
  such noise is visible, and checks the plain chain against its known count.
- Publishes, exactly: every bench process (client, consumers, pool children, beat)
  counts Celery's ``after_task_publish`` signals into a per-process file (see
  ``bench/apps/common.py``); the sum is this run's publishes only. SQL statements
  sent through SQLAlchemy are counted the same way.
- Write transactions: the delta of ``pg_snapshot_xmax(pg_current_snapshot())``, the
  next transaction id. Only transactions that write get an id, so this separates real
  writes from read-only commits (such as SQLAlchemy's ``pool_pre_ping`` ``SELECT 1``,
  which the psycopg dialect runs in autocommit). It is cluster-wide: writes to other
  databases on the same server in the same window are counted too.
- CPU: utime + stime from ``/proc/<pid>/stat`` of the worker process groups (pool
  children, beat and consumer), of the bench process, and of every ``postgres`` and
  ``redis-server`` process on the machine (other users of the same servers are
  included there, so those two are upper bounds), and of the whole machine
  (``/proc/stat``), so CPU used by unrelated processes during a window is visible.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.apps.common import read_counts

STATS_SETTLE = 11.0
"""Seconds after which every backend has flushed its counters (10 s idle timeout + 1)."""

_settle = [STATS_SETTLE]


def set_settle_seconds(seconds: float) -> None:
    """Shorter waits undercount commits; only smoke runs, which check no counts, use them."""
    if seconds < 0:
        raise ValueError("the settle time must be >= 0")
    _settle[0] = seconds


def settle_seconds() -> float:
    return _settle[0]


def settle() -> None:
    """Wait until the commit counters of transactions already committed are visible."""
    time.sleep(_settle[0])


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# --- processes and CPU ------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command: state(3) ppid pgrp ... utime(14) stime(15)
    return text.rsplit(")", 1)[1].split()


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _all_pids() -> Iterable[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / _CLK_TCK


def machine_busy_seconds() -> float:
    """Busy CPU time of the whole machine, all cores (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def group_pids(pgids: Iterable[int]) -> list[int]:
    wanted = set(pgids)
    found = []
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None and int(fields[2]) in wanted and fields[0] not in ("Z", "X"):
            found.append(pid)
    return found


def pids_named(*names: str) -> list[int]:
    return [pid for pid in _all_pids() if _comm(pid) in names]


# --- snapshots ----------------------------------------------------------------------


@dataclass
class Snapshot:
    at: float
    commits: dict[str, int]
    rollbacks: dict[str, int]
    pushes: int
    xids: int = 0
    published: int = 0
    statements: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    pg_started: str = ""


@dataclass
class Delta:
    seconds: float
    commits: dict[str, int]
    rollbacks: dict[str, int]
    pushes: int
    xids: int
    published: int
    statements: int
    cpu: dict[str, float]
    pg_restarted: bool = False


class Probe:
    """Reads every counter at once; ``worker_pgids`` is updated as workers come and go."""

    def __init__(
        self,
        admin_pg_url: str,
        redis_url: str,
        databases: Sequence[str],
        count_dir: Path | None = None,
    ) -> None:
        self.count_dir = count_dir
        self.admin_pg_url = admin_pg_url
        self.pg = psycopg.connect(admin_pg_url, autocommit=True)
        self.redis = redis.Redis.from_url(redis_url)
        self.databases = list(databases)
        self.worker_pgids: list[int] = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pg.close()
        with contextlib.suppress(Exception):
            self.redis.close()

    def pushes(self) -> int:
        stats = self.redis.info("commandstats")
        return sum(
            int(stats.get(f"cmdstat_{cmd}", {}).get("calls", 0)) for cmd in ("lpush", "rpush")
        )

    def _read_pg(self) -> tuple[list[tuple[Any, ...]], int, str]:
        """Counters, next xid and server start time; reconnects across a server restart."""
        for attempt in range(120):
            try:
                rows = self.pg.execute(
                    "SELECT datname, xact_commit, xact_rollback FROM pg_stat_database"
                    " WHERE datname = ANY(%s)",
                    (self.databases,),
                ).fetchall()
                # The next transaction id to be assigned; reading it assigns none.
                row = self.pg.execute(
                    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text,"
                    " pg_postmaster_start_time()::text"
                ).fetchone()
                assert row is not None
                return rows, int(row[0]), str(row[1])
            except psycopg.OperationalError:
                if attempt == 119:
                    raise
                time.sleep(0.5)
                with contextlib.suppress(psycopg.Error):
                    self.pg.close()
                    self.pg = psycopg.connect(self.admin_pg_url, autocommit=True)
        raise AssertionError("unreachable")

    def snapshot(self) -> Snapshot:
        rows, xids, started = self._read_pg()
        commits = {str(r[0]): int(r[1]) for r in rows}
        rollbacks = {str(r[0]): int(r[2]) for r in rows}
        cpu = {
            "workers": cpu_seconds(group_pids(self.worker_pgids)) if self.worker_pgids else 0.0,
            "bench_process": sum(os.times()[:2]),
            "postgres": cpu_seconds(pids_named("postgres")),
            "redis": cpu_seconds(pids_named("redis-server")),
            "machine": machine_busy_seconds(),
        }
        published = read_counts(self.count_dir, "publishes") if self.count_dir else 0
        statements = read_counts(self.count_dir, "statements") if self.count_dir else 0
        return Snapshot(
            time.time(),
            commits,
            rollbacks,
            self.pushes(),
            xids,
            published,
            statements,
            cpu,
            started,
        )

    @staticmethod
    def delta(a: Snapshot, b: Snapshot) -> Delta:
        return Delta(
            seconds=b.at - a.at,
            commits={k: b.commits.get(k, 0) - a.commits.get(k, 0) for k in b.commits},
            rollbacks={k: b.rollbacks.get(k, 0) - a.rollbacks.get(k, 0) for k in b.rollbacks},
            pushes=b.pushes - a.pushes,
            xids=b.xids - a.xids,
            published=b.published - a.published,
            statements=b.statements - a.statements,
            # Worker CPU can only be compared while the same workers are alive.
            cpu={k: max(0.0, b.cpu.get(k, 0.0) - a.cpu.get(k, 0.0)) for k in b.cpu},
            # A restart can reset the counters and always disturbs the timings.
            pg_restarted=a.pg_started != b.pg_started,
        )
