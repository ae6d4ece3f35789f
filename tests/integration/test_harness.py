"""Self-test of the worker harness: a real worker runs a real task, then dies for real."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from tests.integration.harness import WorkerFactory

APP = "tests.integration.apps.echo_app"


@pytest.fixture
def echo_log(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS echo_log"
            " (token text PRIMARY KEY, pid int NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
    return database_url


def wait_for_row(database_url: str, token: str, timeout: float = 15.0) -> int | None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid FROM echo_log WHERE token = %s", (token,)).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    return None


def test_worker_runs_task_and_dies_on_kill(
    worker_factory: WorkerFactory, broker_url: str, echo_log: str
) -> None:
    from tests.integration.apps.echo_app import app

    worker = worker_factory(
        APP,
        concurrency=2,
        env={"CELERY_BROKER_URL": broker_url, "CONTINUUM_DATABASE_URL": echo_log},
    )
    pids = worker.pids()
    assert worker.pid in pids
    assert len(pids) >= 3, f"expected main process + 2 pool children, got {pids}"

    token = uuid.uuid4().hex
    app.conf.broker_url = broker_url
    app.send_task("echo.record", args=[token])

    ran_in = wait_for_row(echo_log, token)
    assert ran_in is not None, "worker never ran the task:\n" + worker.log_tail()
    assert ran_in in pids and ran_in != worker.pid, "task should run in a pool child"

    assert worker.kill() == -9
    assert worker.pids() == []
    assert not worker.is_running()


def test_pause_resume_and_warm_stop(
    worker_factory: WorkerFactory, broker_url: str, echo_log: str
) -> None:
    from tests.integration.apps.echo_app import app

    worker = worker_factory(
        APP,
        concurrency=1,
        env={"CELERY_BROKER_URL": broker_url, "CONTINUUM_DATABASE_URL": echo_log},
    )
    app.conf.broker_url = broker_url
    worker.pause()
    token = uuid.uuid4().hex
    app.send_task("echo.record", args=[token])
    assert wait_for_row(echo_log, token, timeout=0.5) is None, "a paused worker ran a task"
    worker.resume()
    assert wait_for_row(echo_log, token) is not None

    assert worker.stop() == 0
    assert "Warm shutdown" in worker.log()
    assert worker.pids() == []
