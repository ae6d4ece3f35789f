"""Schedules with real ``celery worker`` processes and real time: a schedule
declared with ``@cx.schedule("@every 1s")`` starts runs from worker upkeep, once per
tick with three workers running, and catches up the ticks due while every worker
was down. Also the ``schedules`` command line, in a subprocess.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from tests.integration.checks import wait_for
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory

APP = "tests.integration.apps.scheduled"
ROOT = Path(__file__).resolve().parents[2]
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def scheduled_db(database_url: str) -> Iterator[str]:
    with fresh_database(database_url, "cx_scheduled") as url:
        yield url


@pytest.fixture(scope="module")
def scheduled(scheduled_db: str, broker_url: str) -> ModuleType:
    os.environ["SCHEDULED_DATABASE_URL"] = scheduled_db
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(APP)
    module.cx.migrate()
    return module


@pytest.fixture
def start_worker(
    scheduled: ModuleType, scheduled_db: str, broker_url: str, worker_factory: WorkerFactory
) -> Any:
    env = {"SCHEDULED_DATABASE_URL": scheduled_db, "CELERY_BROKER_URL": broker_url}
    return lambda: worker_factory(APP, concurrency=2, queues=["scheduled"], env=env)


def ticks_run(scheduled: ModuleType) -> list[Any]:
    page = scheduled.cx.list_runs('attributes.schedule_id = "scheduled.heartbeat"', limit=1000)
    return page.runs


def scheduled_time(run: Any) -> datetime:
    return datetime.fromisoformat(run.attributes["scheduled_time"])


def test_an_every_second_schedule_runs_once_per_tick_with_three_workers(
    scheduled: ModuleType, start_worker: Any
) -> None:
    workers = [start_worker() for _ in range(3)]
    wait_for(lambda: len([r for r in ticks_run(scheduled) if r.state == "completed"]) >= 5,
             timeout=30, what="five ticks run to completion")  # fmt: skip
    runs = ticks_run(scheduled)
    counts = Counter(r.attributes["scheduled_time"] for r in runs)
    assert max(counts.values()) == 1, "no tick started twice"
    done = [r for r in runs if r.state == "completed"]
    assert all(r.result == {"label": "tick", "scheduled_time": r.attributes["scheduled_time"]}
               for r in done)  # fmt: skip
    lags = [(r.created_at - scheduled_time(r)).total_seconds() for r in runs]
    print(f"tick-to-start lag over {len(lags)} ticks: p50 {statistics.median(lags):.3f}s "
          f"max {max(lags):.3f}s")  # fmt: skip
    assert statistics.median(lags) < 1.0
    for worker in workers:
        worker.kill()


def test_ticks_due_while_every_worker_was_down_run_on_recovery(
    scheduled: ModuleType, start_worker: Any
) -> None:
    worker = start_worker()
    wait_for(lambda: len(ticks_run(scheduled)) >= 2, timeout=30, what="ticks before the outage")
    worker.kill()
    time.sleep(3.5)  # every worker down for three ticks
    before = {r.attributes["scheduled_time"] for r in ticks_run(scheduled)}
    latest = max(datetime.fromisoformat(t) for t in before)
    outage = [latest + i * SECOND for i in (1, 2, 3)]
    start_worker()
    wait_for(lambda: {scheduled_time(r) for r in ticks_run(scheduled)} >= set(outage),
             timeout=30, what="the three ticks of the outage")  # fmt: skip
    described = scheduled.cx.schedules.describe("scheduled.heartbeat")
    assert described.missed_catchup == 0
    times = sorted(scheduled_time(r) for r in ticks_run(scheduled))
    assert len(times) == len(set(times))


def queued(broker_url: str, queue: str) -> list[tuple[str, Any]]:
    """(task name, args) of every message waiting in a Redis queue."""
    client = redis.Redis.from_url(broker_url)
    messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0])
            for m in messages]  # fmt: skip


def test_a_backfill_wakes_its_runs_with_one_message(
    scheduled: ModuleType, start_worker: Any, broker_url: str
) -> None:
    """Many runs started at once go out as one ``continuum.advance_many`` message,
    not one message per run, and each of them still runs to completion."""
    schedules = scheduled.cx.schedules
    schedules.create("burst", "scheduled.report", "* * * * *", overlap="allow_all")
    schedules.pause("burst", "backfill only")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    started = schedules.backfill("burst", end - 30 * timedelta(minutes=1), end)
    assert len(started) == 30
    ours = [(name, args) for name, args in queued(broker_url, "scheduled")
            if set(args[0] if isinstance(args[0], list) else args) & set(started)]  # fmt: skip
    assert ours == [("continuum.advance_many", [started])]
    start_worker()
    wait_for(lambda: all(scheduled.cx.get_run(r).state == "completed" for r in started),
             timeout=30, what="the 30 backfilled runs")  # fmt: skip
    schedules.delete("burst")


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTINUUM_DATABASE_URL": url}
    command = [sys.executable, "-m", "continuum_celery.cli", "schedules", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_schedules_command_line(scheduled: ModuleType, scheduled_db: str) -> None:
    schedules = scheduled.cx.schedules
    schedules.create("cli-report", "scheduled.report", "0 6 * * *", tz="Europe/Paris",
                     overlap="allow_all")  # fmt: skip
    listed = cli(scheduled_db, "list")
    assert (
        listed.returncode == 0 and "cli-report" in listed.stdout and "Europe/Paris" in listed.stdout
    )
    paused = cli(scheduled_db, "pause", "cli-report", "--note", "quarter close")
    assert paused.returncode == 0 and schedules.get("cli-report").note == "quarter close"
    described = cli(scheduled_db, "describe", "cli-report", "--format", "json")
    assert '"paused": true' in described.stdout and '"next_fire_times"' in described.stdout
    assert cli(scheduled_db, "unpause", "cli-report").returncode == 0
    assert not schedules.get("cli-report").paused
    triggered = cli(scheduled_db, "trigger", "cli-report")
    assert triggered.returncode == 0 and triggered.stdout.startswith("sched:cli-report:trigger:")
    now = datetime.now(UTC)
    start = (now - timedelta(days=3)).isoformat()
    filled = cli(scheduled_db, "backfill", "cli-report", start, now.isoformat())
    assert filled.returncode == 0 and len(filled.stdout.split()) == 3, filled.stderr
    bad = cli(scheduled_db, "backfill", "cli-report", "yesterday", now.isoformat())
    assert bad.returncode == 2 and "not an ISO time" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli(scheduled_db, "pause", "no-such-schedule")
    assert missing.returncode == 2 and "no schedule with id no-such-schedule" in missing.stderr
    assert cli(scheduled_db, "delete", "cli-report").returncode == 0
    assert "cli-report" not in cli(scheduled_db, "list").stdout
