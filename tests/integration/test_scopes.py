"""Two Celery apps on one Continuum database: each keeps up its own runs only.

Apps ``a`` and ``b`` (``apps/scoped.py``) register the same workflow and activity
names and differ only in scope and queue, each with its own ``celery worker``. With
``a``'s worker dead, ``b``'s upkeep and worker run on: they fire ``b``'s timers, wake
``b``'s stale runs and delete ``b``'s old runs, and leave every row of ``a``'s runs as
it was (an overdue timer, an expired claim, a stale wake marker, an old finished
run), even when handed a wakeup for one. ``a``'s next worker then finishes them all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner, Result
from sqlalchemy import text

from continuum_celery import Continuum, health
from continuum_celery.cli.context import Settings
from continuum_celery.cli.root import cli
from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate
from tests.conftest import claimed_redis_db
from tests.integration.checks import wait_for
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.integration.apps.scoped"
RETENTION = 6.0


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with claimed_redis_db("scopes", share_when_full=True) as url:
        yield url


@pytest.fixture
def shared_db(database_url: str) -> Iterator[str]:
    with fresh_database(database_url, "cx_scopes") as url:
        db = Database(url, pool_size=1)
        migrate(db)
        db.dispose()
        yield url


def client(url: str, broker: str, scope: str, queue: str | None = None) -> Continuum:
    """A client of app ``scope``; its wakeups go to ``queue`` (the app's own by default)."""
    app = Celery(f"scoped-{scope}-client", broker=broker, set_as_current=False)
    app.conf.update(task_default_queue=queue or f"scoped-{scope}")
    return Continuum(app, database_url=url, worker_upkeep=False, scope=scope)


def worker(factory: WorkerFactory, url: str, broker: str, scope: str) -> WorkerProcess:
    env = {"SCOPED_SCOPE": scope, "SCOPED_DATABASE_URL": url, "SCOPED_BROKER_URL": broker,
           "SCOPED_RETENTION": str(RETENTION)}  # fmt: skip
    return factory(APP, env=env, queues=[f"scoped-{scope}"], concurrency=2)


def scope_rows(db: Database, scope: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row upkeep or a worker could change for the scope's runs."""
    queries = {
        "runs": "SELECT id, state, last_seq, wake_at, wake_nudges, lease_owner, lease_token,"
        " error FROM cx_runs WHERE scope = :scope ORDER BY id",
        "tasks": "SELECT id, state, attempt, claim_token, claim_expires_at, published_at,"
        " publish_count FROM cx_tasks WHERE scope = :scope ORDER BY id",
        "waits": "SELECT run_id, command_id, resolved FROM cx_waits WHERE scope = :scope"
        " ORDER BY run_id, command_id",
        "events": "SELECT e.run_id, count(*) FROM cx_events e JOIN cx_runs r ON r.id = e.run_id"
        " WHERE r.scope = :scope GROUP BY e.run_id ORDER BY e.run_id",
    }
    with db.engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(text(sql), {"scope": scope})]
            for name, sql in queries.items()
        }


def exists(db: Database, run_id: str) -> bool:
    with db.engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM cx_runs WHERE id = :id"), {"id": run_id})
        return found.first() is not None


def leaders(db: Database) -> dict[str, tuple[str, bool]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT scope, owner, expires_at > clock_timestamp() FROM cx_upkeep_leader")
        )
        return {scope: (owner, bool(live)) for scope, owner, live in rows}


def test_two_apps_share_a_database_and_each_keeps_up_its_own_runs(
    shared_db: str, broker: str, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    db = Database(shared_db, pool_size=2)
    worker_a = worker(worker_factory, shared_db, broker, "a")
    worker(worker_factory, shared_db, broker, "b")
    cx_a, cx_b = client(shared_db, broker, "a"), client(shared_db, broker, "b")

    # Each app's timers fire and its own worker runs its activities.
    done_a, done_b = cx_a.start("scoped.nap", 0.2), cx_b.start("scoped.nap", 0.2)
    assert done_a.result(timeout=30) == "rested in a"
    assert done_b.result(timeout=30) == "rested in b"
    wait_for(lambda: set(leaders(db)) == {"a", "b"}, 10, "a leader for each scope")

    # Leave a's runs mid-flight, then kill a's worker: a claimed attempt whose claim
    # will expire, a timer that will be overdue, and a run whose wakeup was lost.
    flag = tmp_path / "hang-flag"
    hung = cx_a.start("scoped.hang", str(flag))
    napping = cx_a.start("scoped.nap", 1.0)
    wait_for(flag.exists, 20, "a's activity to start")
    wait_for(lambda: any(e.type == "timer_started" for e in napping.history()), 20, "timer")
    worker_a.kill()
    killed_at = time.monotonic()
    lost = client(shared_db, broker, "a", queue="scoped-nowhere").start("scoped.nap", 0.1)
    a_leader = leaders(db)["a"][0]
    before = scope_rows(db, "a")

    # b's worker is handed a wakeup for a's run; b's upkeep wakes b's own lost run.
    cx_b.publisher.publish_advance(lost.run_id)
    b_lost = client(shared_db, broker, "b", queue="scoped-nowhere").start("scoped.nap", 0.1)
    assert b_lost.result(timeout=30) == "rested in b"
    # b's retention deletes b's old run; a's, just as old, stays.
    wait_for(lambda: not exists(db, done_b.run_id), 30, "b's retention")
    # Past a's timer, a's dead claim (2 claim TTLs) and several wake periods.
    time.sleep(max(0.0, killed_at + 5.0 - time.monotonic()))

    assert scope_rows(db, "a") == before, "b's upkeep or worker touched a's runs"
    assert exists(db, done_a.run_id)
    assert leaders(db)["a"] == (a_leader, False)
    assert leaders(db)["b"][1]

    # a's next worker finishes everything: expired claim retried, overdue timer
    # fired, lost wakeup re-sent, old finished run deleted.
    worker(worker_factory, shared_db, broker, "a")
    assert hung.result(timeout=30) == "unstuck"
    assert napping.result(timeout=30) == "rested in a"
    assert lost.result(timeout=30) == "rested in a"
    wait_for(lambda: not exists(db, done_a.run_id), 30, "a's retention")
    db.dispose()


def test_scope_must_be_a_short_non_empty_string(shared_db: str, broker: str) -> None:
    app = Celery("scoped-bad", broker=broker, set_as_current=False)
    with pytest.raises(TypeError):
        Continuum(app, database_url=shared_db, worker_upkeep=False, scope=7)  # type: ignore[arg-type]
    for bad in ("", "x" * 256, "nul\x00"):
        with pytest.raises(ValueError):
            Continuum(app, database_url=shared_db, worker_upkeep=False, scope=bad)


def test_operator_passes_stay_in_their_scope(shared_db: str, broker: str) -> None:
    """Prune, upkeep, the offer of blocked runs and health count one scope's runs;
    a fork stays in its source run's scope, whoever asks for it."""
    cx_x = client(shared_db, broker, "x", queue="scoped-nowhere")
    cx_y = client(shared_db, broker, "y", queue="scoped-nowhere")
    x_run, y_run = cx_x.start("scoped.nap", 1.0), cx_y.start("scoped.nap", 1.0)
    x_old, y_old = cx_x.start("scoped.nap", 1.0), cx_y.start("scoped.nap", 1.0)
    with cx_x.db.engine.begin() as conn:
        conn.execute(text("UPDATE cx_runs SET state = 'blocked' WHERE id = ANY(:ids)"),
                     {"ids": [x_run.run_id, y_run.run_id]})  # fmt: skip
    cx_x.terminate(x_old.run_id, "done with it")
    cx_y.terminate(y_old.run_id, "done with it")
    time.sleep(0.3)

    assert cx_y.prune(older_than=0.2) == 1
    assert exists(cx_x.db, x_old.run_id) and not exists(cx_x.db, y_old.run_id)
    assert cx_x.sweeper.wake_blocked() == 1
    assert cx_y.sweeper.wake_blocked() == 1
    assert health.check(cx_x.db, 60.0, "x").blocked_runs == 1
    assert health.check(cx_x.db, 60.0, "nobody").blocked_runs == 0
    fork = cx_y.fork(x_old.run_id, 1)
    with cx_x.db.engine.connect() as conn:
        scope = conn.execute(text("SELECT scope FROM cx_runs WHERE id = :id"),
                             {"id": fork.run_id}).scalar_one()  # fmt: skip
    assert scope == "x"
    for cx in (cx_x, cx_y):
        cx.db.dispose()


def test_the_command_line_looks_at_one_scope(shared_db: str, broker: str) -> None:
    cx_x = client(shared_db, broker, "x", queue="scoped-nowhere")
    old = cx_x.start("scoped.nap", 1.0)
    cx_x.terminate(old.run_id, "done with it")
    time.sleep(1.2)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--database-url", shared_db, *args], obj=Settings())

    report = json.loads(run("--scope", "x", "health", "--format", "json").output)
    assert report["scope"] == "x" and report["schema_version"] > 0
    assert run("prune", "--older-than", "1s").output.strip() == "deleted 0 runs"
    assert exists(cx_x.db, old.run_id)
    assert run("--scope", "x", "prune", "--older-than", "1s").output.strip() == "deleted 1 run"
    assert not exists(cx_x.db, old.run_id)
    refused = run("--scope", "", "health")
    assert refused.exit_code == 2 and "scope" in refused.output
    assert "Traceback" not in refused.output
    cx_x.db.dispose()
