"""Every attempt is visible where Celery users look: Flower, ``task_failure``, logs.

Flower runs as a subprocess on the ``visible`` app's own broker, and the worker
sends task events (``-E``). Flower must show one task per attempt the journal has
(``cx_attempts``), inline ones included, each with the attempt's state.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import claimed_redis_db
from tests.integration.databases import fresh_database
from tests.integration.flower import Flower
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.integration.apps.visible"
STATES = {"completed": "SUCCESS", "failed": "FAILURE", "timed_out": "FAILURE", "lost": "FAILURE"}


@pytest.fixture(scope="module")
def visible_env(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    with fresh_database(database_url, "cx_visible") as db_url, \
            claimed_redis_db("visible", share_when_full=False) as broker:  # fmt: skip
        yield {
            "VISIBLE_DATABASE_URL": db_url,
            "VISIBLE_BROKER_URL": broker,
            "VISIBLE_STATE_DIR": str(tmp_path_factory.mktemp("visible-state")),
        }


@pytest.fixture(scope="module")
def visible(visible_env: dict[str, str]) -> ModuleType:
    os.environ.update(visible_env)
    module = importlib.import_module(APP)
    module.cx.migrate()
    return module


@pytest.fixture(scope="module")
def flower(
    visible: ModuleType, visible_env: dict[str, str], tmp_path_factory: Any
) -> Iterator[Flower]:
    process = Flower(APP, visible_env, tmp_path_factory.mktemp("flower") / "flower.log")
    try:
        yield process.wait_ready()
    finally:
        process.stop()


@pytest.fixture
def watched_worker(
    visible: ModuleType, visible_env: dict[str, str], flower: Flower, worker_factory: WorkerFactory
) -> WorkerProcess:
    """A worker that sends task events, and also runs beat (``-B``): upkeep must not
    put a task into Flower either way."""
    worker = worker_factory(APP, concurrency=2, beat=True, queues=["visible"],
                            env=visible_env, extra_args=["-E"])  # fmt: skip
    handle = visible.single.delay()  # events flow end to end before the test proper
    assert handle.result(timeout=30) == 0
    wait_for(lambda: any(t.get("root_id") == handle.run_id for t in flower.tasks().values()),
             "flower saw the warm-up run")  # fmt: skip
    return worker


def wait_for(predicate: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)
    return value


def of_run(tasks: dict[str, dict[str, Any]], run_id: str) -> dict[str, dict[str, Any]]:
    """The run's activity tasks (its wakeups, ``continuum.advance``, are not attempts)."""
    return {uuid: task for uuid, task in tasks.items()
            if task.get("root_id") == run_id
            and task.get("name") != "continuum.advance"}  # fmt: skip


def journal_attempts(visible: ModuleType, run_id: str) -> dict[str, tuple[str, str, int]]:
    """uuid -> (state Flower should show, activity, attempt), from ``cx_attempts``."""
    with visible.cx.db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.task_id, a.attempt, a.outcome, t.activity FROM cx_attempts a"
                " JOIN cx_tasks t ON t.id = a.task_id WHERE t.run_id = :run_id"
            ),
            {"run_id": run_id},
        ).all()
    return {f"{r.task_id}-{r.attempt}": (STATES[r.outcome], r.activity, r.attempt) for r in rows}


def failures(visible_env: dict[str, str]) -> list[dict[str, str]]:
    path = Path(visible_env["VISIBLE_STATE_DIR"]) / "failures"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_flower_shows_every_attempt_with_its_state_inline_ones_included(
    visible: ModuleType, visible_env: dict[str, str], flower: Flower,
    watched_worker: WorkerProcess,
) -> None:  # fmt: skip
    handle = visible.mixed.delay("mixed-1")
    assert handle.result(timeout=30) == [1, 2, "ok", 3]
    attempts = journal_attempts(visible, handle.run_id)
    assert len(attempts) == 6  # step, step, flaky x3, step
    expected = {uuid: state for uuid, (state, _, _) in attempts.items()}

    def shown() -> dict[str, str]:
        tasks = of_run(flower.tasks(), handle.run_id)
        return {uuid: task["state"] for uuid, task in tasks.items()}

    wait_for(lambda: shown() == expected, f"flower shows {expected} (it shows {shown()})")
    tasks = of_run(flower.tasks(), handle.run_id)
    for uuid, (_, activity, attempt) in attempts.items():
        assert tasks[uuid]["name"] == activity
        assert tasks[uuid]["args"] == f"run={handle.run_id} activity={activity} attempt={attempt}"
    published = {uuid for uuid in attempts if f"[{uuid}] received" in watched_worker.log()}
    failed = {uuid for uuid, state in expected.items() if state == "FAILURE"}
    assert published & failed and failed - published, "one failure from a message, one inline"
    assert set(attempts) - published - failed, "and successful inline attempts"


def test_task_failure_fires_for_every_failed_attempt_with_its_error(
    visible: ModuleType, visible_env: dict[str, str], watched_worker: WorkerProcess
) -> None:
    handle = visible.mixed.delay("mixed-2")
    assert handle.result(timeout=30) == [1, 2, "ok", 3]
    failed = {u for u, (state, _, _) in journal_attempts(visible, handle.run_id).items()
              if state == "FAILURE"}  # fmt: skip
    assert len(failed) == 2
    seen = {f["task_id"]: f for f in failures(visible_env) if f["task_id"] in failed}
    assert set(seen) == failed
    assert {f["error"] for f in seen.values()} == {
        "ConnectionError: flaky failure 1",
        "ConnectionError: flaky failure 2",
    }
    for uuid in failed:
        line = next(
            x
            for x in watched_worker.log().splitlines()
            if "failed: Connection" in x
            and uuid.rsplit("-", 1)[0] in x
            and f"attempt {uuid.rsplit('-', 1)[1]}" in x
        )
        assert "WARNING" in line and handle.run_id in line and "visible.flaky" in line


def test_a_duplicate_delivery_succeeds_saying_so(
    visible: ModuleType, flower: Flower, watched_worker: WorkerProcess
) -> None:
    handle = visible.single.delay()
    assert handle.result(timeout=30) == 0
    (uuid,) = journal_attempts(visible, handle.run_id)
    task_id, attempt = uuid.rsplit("-", 1)
    duplicate = visible.app.send_task("tests.integration.apps.visible.step",
                                      args=[task_id, int(attempt)], queue="visible")  # fmt: skip
    shown = wait_for(lambda: flower.tasks().get(duplicate.id, {}).get("state") == "SUCCESS"
                     and flower.tasks()[duplicate.id], "the duplicate is shown")  # fmt: skip
    assert "duplicate" in shown["result"], shown


def test_upkeep_puts_no_task_into_flower_even_with_beat(
    flower: Flower, watched_worker: WorkerProcess
) -> None:
    time.sleep(2.0)  # beat (-B) would have sent continuum.upkeep by now, every second
    names = {task["name"] for task in flower.tasks().values()}
    assert "continuum.upkeep" not in names
