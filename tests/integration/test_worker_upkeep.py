"""Upkeep inside the workers: no beat, one leader, timers on time, clear trouble.

Workers here run without ``-B``. Each test has a database of its own, so the
leader row and the timers belong to its workers alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from celery import Celery
from sqlalchemy import text

from continuum_celery import Continuum, SchemaNotMigrated
from continuum_celery.journal.db import Database
from continuum_celery.journal.leader import UpkeepLeader
from continuum_celery.journal.migrate import migrate
from tests.conftest import claimed_redis_db
from tests.integration.databases import fresh_database
from tests.integration.flower import free_port
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.integration.apps.visible"


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with claimed_redis_db("upkeep", share_when_full=False) as url:
        yield url


@pytest.fixture
def empty_db(database_url: str) -> Iterator[str]:
    with fresh_database(database_url, "cx_upkeep") as url:
        yield url


@pytest.fixture
def own_db(empty_db: str) -> str:
    db = Database(empty_db, pool_size=1)
    migrate(db)
    db.dispose()
    return empty_db


NAPPER = "tests.integration.apps.visible.napper"


def client(url: str, broker: str) -> Continuum:
    """A client of the ``visible`` app's workflows (by name) on database ``url``."""
    app = Celery("visible-client", broker=broker, set_as_current=False)
    app.conf.update(task_default_queue="visible")
    cx = Continuum(app, database_url=url, worker_upkeep=False)
    cx.workflow(name=NAPPER)(lambda seconds: None)
    return cx


def env(url: str, broker: str) -> dict[str, str]:
    return {"VISIBLE_DATABASE_URL": url, "VISIBLE_BROKER_URL": broker}


def wait_for(predicate: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def timer_latency(cx: Continuum, seconds: float) -> float:
    """Run a sleep of ``seconds``; how long after it started did it fire?"""
    handle = cx.start(NAPPER, seconds)
    assert handle.result(timeout=30) == "rested"
    events = {e.type: e for e in handle.history()}
    return (events["timer_fired"].created_at - events["timer_started"].created_at).total_seconds()


def test_a_short_timer_fires_within_100ms_of_its_time_without_beat(
    own_db: str, broker: str, worker_factory: WorkerFactory
) -> None:
    worker_factory(APP, concurrency=1, queues=["visible"], env=env(own_db, broker))
    cx = client(own_db, broker)
    latencies = [timer_latency(cx, 0.5) for _ in range(3)]
    assert all(0.5 <= latency < 0.6 for latency in latencies), latencies


def lateness(db_url: str, run_ids: list[str]) -> list[float]:
    """Seconds from each run's ``fires_at`` to its ``timer_fired``."""
    db = Database(db_url, pool_size=1)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT extract(epoch FROM f.created_at - (s.data->>'fires_at')::timestamptz)"
                    " FROM cx_events s JOIN cx_events f ON f.run_id = s.run_id"
                    " AND f.command_id = s.command_id AND f.type = 'timer_fired'"
                    " WHERE s.type = 'timer_started' AND s.run_id = ANY(:ids)"
                ),
                {"ids": run_ids},
            ).all()
    finally:
        db.dispose()
    return sorted(float(r[0]) for r in rows)


def test_timers_coming_due_hundreds_a_second_fire_within_200ms(
    own_db: str, broker: str, worker_factory: WorkerFactory
) -> None:
    """Each timer fired in a transaction of its own used to fall behind at this rate."""
    worker_factory(APP, concurrency=2, queues=["visible"], env=env(own_db, broker))
    cx = client(own_db, broker)
    timer_latency(cx, 0.05)  # the worker is up and leads upkeep
    n = 300
    handles = [cx.start(NAPPER, 1.5 + i / n) for i in range(n)]  # 300 a second come due
    for handle in handles:
        assert handle.result(timeout=60) == "rested"
    late = lateness(own_db, [h.run_id for h in handles])
    assert len(late) == n and late[0] >= 0, late[:5]
    assert late[int(0.95 * n)] < 0.2, f"p95 {late[int(0.95 * n)]:.3f} s, worst {late[-5:]}"


def leader_worker(url: str, workers: list[WorkerProcess]) -> WorkerProcess:
    db = Database(url, pool_size=1)
    try:
        lead = UpkeepLeader(db).current()
    finally:
        db.dispose()
    assert lead is not None and lead.live, "a worker leads upkeep"
    (worker,) = [w for w in workers if lead.owner.startswith(f"{w.name}@")]
    return worker


def test_when_the_upkeep_leader_dies_another_worker_takes_over(
    own_db: str, broker: str, worker_factory: WorkerFactory
) -> None:
    workers = [worker_factory(APP, concurrency=1, queues=["visible"], env=env(own_db, broker))
               for _ in range(2)]  # fmt: skip
    cx = client(own_db, broker)
    assert timer_latency(cx, 0.3) < 0.4
    leader = leader_worker(own_db, workers)
    leader.kill()
    started = time.monotonic()
    assert timer_latency(cx, 0.3) < 6.0  # the dead leader's hold expires first (3 s)
    assert time.monotonic() - started < 8.0
    (survivor,) = [w for w in workers if w is not leader]
    assert leader_worker(own_db, workers) is survivor
    assert timer_latency(cx, 0.3) < 0.4, "and the new leader is as quick"


def test_an_unmigrated_database_is_named_at_client_calls_and_at_worker_start(
    empty_db: str, broker: str, worker_factory: WorkerFactory
) -> None:
    cx = client(empty_db, broker)
    run_id = "00000000-0000-4000-8000-000000000000"
    calls = [lambda: cx.start(NAPPER, 1),
             lambda: cx.get_run(run_id), lambda: cx.signal(run_id, "go"),
             lambda: cx.cancel(run_id), lambda: cx.run(run_id).result(timeout=1)]  # fmt: skip
    for call in calls:
        with pytest.raises(SchemaNotMigrated, match="continuum-celery migrate"):
            call()
    worker = worker_factory(APP, concurrency=1, queues=["visible"], env=env(empty_db, broker))
    complaint = re.compile(
        r"ERROR/MainProcess\] upkeep: the database has no continuum_celery"
        r" tables: run `continuum-celery migrate`.*; checking again in (\d+)s"
    )
    wait_for(lambda: len(complaint.findall(worker.log())) >= 3, "the worker names the fix")
    assert complaint.findall(worker.log())[:3] == ["1", "2", "4"], "backing off"
    assert "Traceback" not in worker.log()
    db = Database(empty_db, pool_size=1)
    migrate(db)
    db.dispose()
    wait_for(lambda: "leads upkeep" in worker.log(), "upkeep starts once migrated")
    assert timer_latency(cx, 0.2) < 0.3, "and the client works without a restart"


def test_an_unreachable_database_at_worker_start_is_one_line_per_retry_with_backoff(
    broker: str, worker_factory: WorkerFactory
) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    worker = worker_factory(APP, concurrency=1, queues=["visible"], env=env(nowhere, broker))
    time.sleep(4.5)
    retries = re.findall(r"WARNING/MainProcess\] upkeep: Postgres unreachable \(.*\); "
                         r"retrying in (\d+)s", worker.log())  # fmt: skip
    assert retries[:3] == ["1", "2", "4"], worker.log_tail(20)
    assert "Traceback" not in worker.log()
