"""Helpers for the fault-injection tests: the per-test lab, polling, journal checks."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy.exc import DBAPIError

from continuum_celery import Event
from tests.faults.apps.chaos import Chaos, build, call_pids, spin
from tests.integration.checks import assert_sound
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.faults.apps.chaos"
OUTAGE = (DBAPIError, psycopg.OperationalError)
"""What a read raises while Postgres is restarting."""


def steady(read: Callable[..., Any], patience: float = 30.0) -> Callable[..., Any]:
    """``read``, retried while the database is briefly unreachable. Only the test's own
    observations get this; the workers under test are on their own."""

    def call(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + patience
        while True:
            try:
                return read(*args, **kwargs)
            except OUTAGE:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    return call


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(what: str, error: object) -> NoReturn:
    message = f"{what} unreachable ({error})"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def truncate_journal(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename LIKE 'cx\\_%' AND tablename <> 'cx_schema_migrations'"
            )
        ]
        if tables:
            conn.execute(
                sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
            )


# --- the lab: workers, clients and the journal's tables for one test ---------------


class Lab:
    """One test's environment: worker env, in-process clients, SQL reads, waits."""

    def __init__(
        self,
        factory: WorkerFactory,
        database_url: str,
        broker_url: str,
        state_dir: Path,
    ) -> None:
        self.factory = factory
        self.database_url = database_url
        self.broker_url = broker_url
        self.state_dir = state_dir
        self.env: dict[str, str] = {
            "CONTINUUM_DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CX_CHAOS_STATE_DIR": str(state_dir),
            # Every knob set explicitly, so nothing leaks in from the pytest process.
            "CX_CHAOS_TRANSPORT_OPTIONS": "{}",
            "CX_CHAOS_PREFETCH": "1",
            "CX_CHAOS_UPKEEP_INTERVAL": "0.5",
            "CX_CHAOS_WAKE_STALE_AFTER": "1.0",
            "CX_CHAOS_TASK_STALE_AFTER": "2.0",
            "CX_CHAOS_LEASE_TTL": "2.0",
            "CX_CHAOS_CLAIM_TTL": "2.0",
            "CX_CHAOS_REPEAT": "1",
            "CX_CHAOS_INLINE_BUDGET": "1.0",
            "CX_CHAOS_DROP_ADVANCE": "0",
            "CX_CHAOS_DROP_ACTIVITY": "0",
        }
        self._clients: list[Chaos] = []

    def configure(self, **knobs: Any) -> None:
        """Set ``CX_CHAOS_<KNOB>`` for every worker and client made afterwards."""
        for knob, value in knobs.items():
            self.env[f"CX_CHAOS_{knob.upper()}"] = str(value)

    def client(self) -> Chaos:
        """The app as the test process uses it: start runs, signal, read the journal.

        Its reads (``get_run``, ``history``, hence ``handle.result()``) ride out a
        Postgres restart, whether a test causes it or someone sharing the server."""
        client = build(self.env)
        client.cx.get_run = steady(client.cx.get_run)  # type: ignore[method-assign]
        client.cx.history = steady(client.cx.history)  # type: ignore[method-assign]
        self._clients.append(client)
        return client

    def worker(self, name: str, **options: Any) -> WorkerProcess:
        options.setdefault("concurrency", 2)
        return self.factory(
            APP, env=dict(self.env), queues=["chaos"], name=f"{name}-{os.getpid()}", **options
        )

    def workers(self, *specs: tuple[str, dict[str, Any]]) -> list[WorkerProcess]:
        """Start several workers at once (startup is the slow part of every test)."""
        started: dict[int, WorkerProcess] = {}
        errors: list[BaseException] = []

        def start(index: int, name: str, options: dict[str, Any]) -> None:
            try:
                started[index] = self.worker(name, **options)
            except BaseException as error:  # re-raised below, in the test's thread
                errors.append(error)

        threads = [
            threading.Thread(target=start, args=(i, name, options))
            for i, (name, options) in enumerate(specs)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return [started[i] for i in range(len(specs))]

    # --- the journal's tables, read directly ------------------------------------

    def query(self, statement: str, *params: Any) -> list[dict[str, Any]]:
        return steady(self._query)(statement, *params)  # type: ignore[no-any-return]

    def _query(self, statement: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(statement, params).fetchall()

    def run_row(self, run_id: str) -> dict[str, Any]:
        return self.query("SELECT * FROM cx_runs WHERE id = %s", run_id)[0]

    def tasks(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM cx_tasks WHERE run_id = %s ORDER BY command_id", run_id)

    def attempts(self, task_id: str) -> list[tuple[int, str]]:
        rows = self.query(
            "SELECT attempt, outcome FROM cx_attempts WHERE task_id = %s ORDER BY attempt",
            task_id,
        )
        return [(row["attempt"], row["outcome"]) for row in rows]

    def close(self) -> None:
        for client in self._clients:
            client.cx.db.dispose()
            client.app.close()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def completions(history: list[Event]) -> Counter[str | None]:
    """activity_completed events per command id."""
    return Counter(e.command_id for e in history if e.type == "activity_completed")


def assert_journal(history: list[Event], activities: int | None = None) -> None:
    """Gap-free, one terminal per await, and every activity completed exactly once."""
    assert_sound(history)
    scheduled = [e.command_id for e in history if e.type == "activity_scheduled"]
    done = completions(history)
    assert all(done[c] == 1 for c in scheduled), f"completions per activity: {done}"
    if activities is not None:
        assert len(scheduled) == activities, f"{len(scheduled)} activities scheduled"


def has_event(handle: Any, type_: str, name: str | None = None) -> bool:
    return any(
        e.type == type_ and (name is None or e.data.get("name") == name) for e in handle.history()
    )


def sigkill_mid_activity(lab: Lab, client: Chaos) -> tuple[WorkerProcess, WorkerProcess, str]:
    """Two workers; whichever claims attempt 1 (a 30 s body, 3 s timeout, 2 attempts) is
    SIGKILLed mid-body. Nobody renews its claim any more, so it lapses within the claim
    TTL; upkeep must count it as a timed-out attempt and the survivor must run attempt
    2 to completion."""
    a, b = lab.workers(
        ("a", {"beat": True, "concurrency": 1}), ("b", {"beat": True, "concurrency": 1})
    )
    key = uuid.uuid4().hex
    handle = client.single.delay(key, 30.0, 3.0, 2)
    first_pid = wait_for(lambda: call_pids(lab.state_dir, key), 20, "attempt 1 to start")[0]
    victim, survivor = (a, b) if first_pid in a.pids() else (b, a)
    assert first_pid in victim.pids()
    victim.kill()
    assert not victim.pids()

    assert handle.result(timeout=30) == "done"
    history = handle.history()
    assert_journal(history, activities=1)
    (completed,) = [e for e in history if e.type == "activity_completed"]
    assert completed.data["attempt"] == 2
    (task,) = lab.tasks(handle.run_id)
    assert_taken_over(lab.attempts(str(task["id"])))
    pids = call_pids(lab.state_dir, key)
    assert len(pids) == 2 and pids[1] in survivor.pids(), pids
    assert lab.run_row(handle.run_id)["wake_at"] is None
    return victim, survivor, str(task["id"])


def rounds_for(seconds: float) -> int:
    """How many ``spin`` rounds take about ``seconds`` here (fixed once, and passed as
    an argument, so every replay of a run does exactly the same work)."""
    sample = 200_000
    started = time.perf_counter()
    spin(sample)
    return max(sample, int(sample * seconds / (time.perf_counter() - started)))


def assert_taken_over(attempts: list[tuple[int, str]]) -> None:
    """Attempt 1's worker died or froze: its claim was expired (past the attempt's
    deadline, or unrenewed past the grace period) and attempt 2 finished the job."""
    assert len(attempts) == 2, attempts
    assert attempts[0][0] == 1 and attempts[0][1] in ("timed_out", "lost"), attempts
    assert attempts[1] == (2, "completed"), attempts
