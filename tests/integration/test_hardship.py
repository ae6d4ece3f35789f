"""Hard times for a worker: a broker outage after a commit, hung activity bodies,
results Postgres cannot store. Each must end in a finished or visibly failed run,
never in work that waits out a timeout it did not earn."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import Celery

from continuum_celery import Continuum, RunFailed, workflow
from continuum_celery.journal.db import JournalUnavailable
from continuum_celery.journal.settling import SHORT_DELAY
from continuum_celery.runtime import advance
from tests.integration.checks import assert_sound, types, wait_for
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory
from tests.integration.proxy import TcpProxy

APP = "tests.integration.apps.hardship"


@pytest.fixture(scope="module")
def hardship_db(database_url: str) -> Iterator[str]:
    with fresh_database(database_url, "cx_hardship") as url:
        yield url


@pytest.fixture(scope="module")
def hardship(hardship_db: str, broker_url: str) -> ModuleType:
    os.environ["HARDSHIP_DATABASE_URL"] = hardship_db
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(APP)
    module.cx.migrate()
    return module


def env(database: str, broker: str) -> dict[str, str]:
    return {"HARDSHIP_DATABASE_URL": database, "CELERY_BROKER_URL": broker}


@pytest.fixture
def proxy(broker_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(broker_url)
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield tcp
    tcp.close()


def through(proxy: TcpProxy, broker_url: str) -> str:
    return urlunsplit(urlsplit(broker_url)._replace(netloc=f"127.0.0.1:{proxy.port}"))


def test_a_broker_outage_after_a_commit_never_abandons_the_activity_it_claimed(
    hardship: ModuleType, hardship_db: str, broker_url: str, proxy: TcpProxy,
    worker_factory: WorkerFactory, tmp_path: Path,
) -> None:  # fmt: skip
    worker = worker_factory(APP, concurrency=2, beat=True, queues=["hardship"],
                            env=env(hardship_db, through(proxy, broker_url)))  # fmt: skip
    gate = tmp_path / "gate"
    handle = hardship.fan_after_gate.delay(3, str(gate))
    wait_for(lambda: "activity_scheduled" in types(handle.history()))
    proxy.cut()  # the step completes and fans out while the broker is away
    # Another worker carries on meanwhile, as in production: after an outage this
    # one's consumer may not come back (kombu), and nothing may depend on it.
    worker_factory(APP, concurrency=1, beat=True, queues=["hardship"],
                   env=env(hardship_db, broker_url))  # fmt: skip
    gate.touch()
    wait_for(lambda: "activity_completed" in types(handle.history()))
    time.sleep(2.0)  # its publishes fail meanwhile
    proxy.restore()

    assert handle.result(timeout=40) == [0, 1, 2]
    assert "not published" in worker.log()
    history = handle.history()
    assert "activity_failed" not in types(history)
    assert [t.attempt for t in hardship.cx.activity_tasks(handle.run_id)] == [1, 1, 1, 1]
    assert_sound(history)


def test_a_hung_first_activity_is_stopped_at_its_timeout(
    hardship: ModuleType, hardship_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    worker_factory(APP, concurrency=2, beat=True, queues=["hardship"],
                   env=env(hardship_db, broker_url))  # fmt: skip
    hung = [hardship.hung.delay(60.0) for _ in range(2)]  # one per pool process
    time.sleep(0.5)
    started = time.monotonic()
    assert hardship.quick.delay().result(timeout=15) == 7  # the pool is free again
    assert time.monotonic() - started < 10
    for handle in hung:
        with pytest.raises(RunFailed, match="did not finish within its 2s timeout"):
            handle.result(timeout=15)
        [task] = hardship.cx.activity_tasks(handle.run_id)
        assert task.state == "failed"


def test_a_body_that_will_not_stop_has_its_process_ended(
    hardship: ModuleType, hardship_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(APP, concurrency=1, beat=True, queues=["hardship"],
                            env=env(hardship_db, broker_url))  # fmt: skip
    # By name: the first wakeup then runs the body inline, under the wakeup's limit
    # (a start with the code would publish it, under the activity's own limit).
    stuck = hardship.cx.start(hardship.hung_hard.name, 120.0)
    wait_for(lambda: "activity_scheduled" in types(stuck.history()))
    quick = hardship.quick.delay()
    assert quick.result(timeout=40) == 7  # served once the stuck process was replaced
    with pytest.raises(RunFailed, match=r"TimeoutError|WorkerLost"):
        stuck.result(timeout=30)
    assert "Hard time limit (15.0s) exceeded for continuum.advance" in worker.log()


def test_a_result_postgres_cannot_store_fails_the_attempt_at_once(
    hardship: ModuleType, hardship_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    worker_factory(APP, concurrency=2, beat=True, queues=["hardship"],
                   env=env(hardship_db, broker_url))  # fmt: skip
    handle = hardship.returns_unstorable.delay("bad")
    started = time.monotonic()
    with pytest.raises(RunFailed) as failure:
        handle.result(timeout=20)
    assert time.monotonic() - started < 10, "failed at once, not after a timeout"
    assert "timeout" not in str(failure.value)
    [task] = hardship.cx.activity_tasks(handle.run_id)
    assert (task.state, task.attempt) == ("failed", 1)  # unstorable: not retried
    failed = [e for e in handle.history() if e.type == "activity_failed"]
    assert len(failed) == 1 and "\\x00" not in failed[0].data["message"]


def test_a_run_due_later_than_a_countdown_reaches_is_woken_once_due(hardship: ModuleType) -> None:
    """No worker runs here: upkeep's own query decides when the run is woken."""
    eta = datetime.now(UTC) + timedelta(seconds=SHORT_DELAY + 0.5)
    handle = hardship.quick.apply_async(eta=eta)
    sweep = hardship.cx.sweeper.sweep
    assert handle.run_id not in sweep.runs_to_wake(5.0, 300.0, 100)
    time.sleep(max(0.0, (eta - datetime.now(UTC)).total_seconds()) + 0.2)
    assert handle.run_id in sweep.runs_to_wake(5.0, 300.0, 100)  # not 5 s (stale) later
    assert handle.run_id not in sweep.runs_to_wake(5.0, 300.0, 100)  # then backs off as usual
    handle.cancel()


@pytest.mark.parametrize("path", ["leased", "one transaction"])
def test_work_a_wakeup_claimed_runs_even_if_a_later_replay_round_fails(
    hardship: ModuleType, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """No worker: the wakeup runs in this process, and its second round hits a
    database blip after the first round committed a claim on the activity."""
    handle = hardship.cx.start(hardship.leaf_and_signal.name)  # by name: a wakeup decides
    handle.signal("go", "now")  # buffered: the first decision consumes it
    runs = hardship.cx.runs

    def blip(*_: object) -> None:
        raise JournalUnavailable("Postgres unavailable: connection reset")

    if path == "leased":
        monkeypatch.setattr(advance, "SHORT_HISTORY", -1)  # every replay takes a lease
        monkeypatch.setattr(runs, "refresh", blip)
    else:
        first, rounds = runs.wake_eagerly, []

        def second_round_blips(*args: Any) -> Any:
            rounds.append(args)
            return first(*args) if len(rounds) == 1 else blip()

        monkeypatch.setattr(runs, "wake_eagerly", second_round_blips)
        monkeypatch.setattr(runs, "acquire", blip)  # Postgres is gone for the lease too
    with pytest.raises(JournalUnavailable):
        hardship.cx.advancer.advance(handle.run_id)
    [task] = hardship.cx.activity_tasks(handle.run_id)
    assert (task.state, task.attempt) == ("completed", 1)  # ran here, not left to lapse
    assert "activity_completed" in types(handle.history())


def test_a_client_whose_broker_is_down_still_starts_signals_and_cancels(
    hardship_db: str, hardship: ModuleType
) -> None:
    """Each action commits first; the message it then publishes (a wakeup, or the
    activity the signal's replay scheduled) is only a hint, which upkeep sends
    again. An error would invite the caller to do it twice."""
    app = Celery("offline", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    cx = Continuum(app, database_url=hardship_db)
    step = cx.activity(name="offline.step")(lambda n: n)
    waiter = cx.workflow(name="offline.waiter")(lambda: step(workflow.wait_signal("go")))

    handle = waiter.delay()  # no exception: the run is in Postgres
    assert cx.get_run(handle.run_id).state == "running"
    cx.signal(handle.run_id, "go", 1)
    assert [t.state for t in cx.activity_tasks(handle.run_id)] == ["ready"]
    cx.cancel(handle.run_id, "no broker")
    assert cx.get_run(handle.run_id).cancel_reason == "no broker"
    cx.terminate(handle.run_id, "no broker at all")
    assert cx.get_run(handle.run_id).state == "terminated"
