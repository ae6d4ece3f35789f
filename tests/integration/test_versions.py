"""Rolling deploys: runs replay with the version they started on, on workers that have it."""

from __future__ import annotations

import importlib
import os
import time
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from celery import Celery

from continuum_celery import Continuum
from continuum_celery.journal.records import NewRun
from tests.integration.checks import assert_sound, types
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory

APP = "tests.integration.apps.deploy"


@pytest.fixture(scope="module")
def deploy_db(database_url: str) -> Iterator[str]:
    """A database of its own: the session worker's upkeep must not see these runs."""
    with fresh_database(database_url, "cx_deploy") as url:
        yield url


@pytest.fixture(scope="module")
def deploy(deploy_db: str, broker_url: str) -> ModuleType:
    os.environ.update({"DEPLOY_DATABASE_URL": deploy_db, "DEPLOY_CODE": "new"})
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(APP)
    module.cx.migrate()
    return module


def env(deploy_db: str, broker_url: str, code: str) -> dict[str, str]:
    return {"DEPLOY_DATABASE_URL": deploy_db, "CELERY_BROKER_URL": broker_url, "DEPLOY_CODE": code}


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_new_runs_start_on_the_newest_version(deploy: ModuleType) -> None:
    handle = deploy.greet_v1.apply_async(args=("x",), eta=_far_future())
    assert deploy.cx.get_run(handle.run_id).version == 2
    handle.cancel()


def test_a_rolling_deploy_with_old_and_new_workers(
    deploy: ModuleType, deploy_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    old_run = str(uuid.uuid4())  # started before the deploy, on version 1
    deploy.cx.runs.start_run(NewRun(old_run, "deploy.greet", ["old"], {}, version=1))
    old = worker_factory(APP, concurrency=1, beat=True, env=env(deploy_db, broker_url, "old"))
    # The client already runs the new release; by name, so that its first replay is
    # a worker's (a start with the code makes that decision itself: see below).
    new_run = deploy.cx.start("deploy.greet", "new")
    wait_for(lambda: "signal_awaited" in types(deploy.cx.history(old_run)), what="v1 await")

    wait_for(lambda: deploy.cx.get_run(new_run.run_id).state == "blocked", what="v2 blocked")
    assert deploy.cx.history(new_run.run_id) == [], "an old worker left the v2 run untouched"
    assert "UnknownWorkflow" in (deploy.cx.get_run(new_run.run_id).error or "")
    assert f"run {new_run.run_id} (deploy.greet) blocked: UnknownWorkflow" in old.log()

    worker_factory(  # a worker with the code starts: blocked runs are offered at once
        APP, concurrency=1, queues=["deploy", "deploy-v2"], env=env(deploy_db, broker_url, "new")
    )
    wait_for(lambda: "signal_awaited" in types(deploy.cx.history(new_run.run_id)), what="v2")
    deploy.cx.signal(old_run, "go")
    new_run.signal("go")
    assert deploy.cx.run(old_run).result(timeout=30) == "v1 hello old"
    assert new_run.result(timeout=30) == "v2 hello NEW"
    assert_sound(deploy.cx.history(old_run))
    assert types(deploy.cx.history(new_run.run_id)) == [
        "activity_scheduled",
        "activity_completed",
        "signal_awaited",
        "signal_received",
    ]


def test_a_client_of_the_new_release_decides_the_first_step_itself(
    deploy: ModuleType, deploy_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    old = worker_factory(APP, concurrency=1, env=env(deploy_db, broker_url, "old"))
    handle = deploy.greet_v1.delay("eager")  # version 2, replayed here to its first step
    assert deploy.cx.get_run(handle.run_id).version == 2
    assert types(handle.history()) == ["activity_scheduled"]
    assert handle.history()[0].data["activity"] == "deploy.shout"
    time.sleep(1.0)  # the old worker has nothing to do with it: no wakeup was sent
    assert deploy.cx.get_run(handle.run_id).state == "running"
    assert f"run {handle.run_id}" not in old.log()
    worker_factory(
        APP, concurrency=1, queues=["deploy", "deploy-v2"], env=env(deploy_db, broker_url, "new")
    )
    wait_for(lambda: "signal_awaited" in types(handle.history()), what="v2 await")
    handle.signal("go")
    assert handle.result(timeout=30) == "v2 hello EAGER"
    assert_sound(handle.history())


def _far_future() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(days=1)


def test_a_run_started_by_name_replays_on_the_newest_version_its_worker_has(
    deploy: ModuleType, deploy_db: str
) -> None:
    web = Continuum(Celery("web", broker="memory://", set_as_current=False), database_url=deploy_db)
    handle = web.start("deploy.greet", "web")  # this process has no workflow code at all
    assert web.get_run(handle.run_id).version == 0
    assert deploy.cx.advancer.advance(handle.run_id)  # a worker of the new release
    assert web.get_run(handle.run_id).version == 2, "pinned at the first replay"
    assert types(handle.history()) == ["activity_scheduled"], "version 2 shouts first"
    assert handle.history()[0].data["activity"] == "deploy.shout"
    handle.cancel()
    web.db.dispose()
