"""Signals and cancels that land while a continue-as-new chain hops, through real
workers; and what a run that continues leaves behind (nothing)."""

from __future__ import annotations

import importlib
import os
import random
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from continuum_celery import RunCancelled
from tests.integration.checks import assert_sound, wait_for
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.integration.apps.chains"


@pytest.fixture(scope="module")
def chains_db(database_url: str) -> Iterator[str]:
    """A database of its own: the session worker has no code for these runs."""
    with fresh_database(database_url, "cx_chains") as url:
        yield url


@pytest.fixture(scope="module")
def chains(chains_db: str, broker_url: str) -> ModuleType:
    os.environ["CHAINS_DATABASE_URL"] = chains_db
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(APP)
    module.cx.migrate()
    return module


@pytest.fixture
def chain_worker(chains_db: str, broker_url: str, worker_factory: WorkerFactory) -> WorkerProcess:
    env = {"CHAINS_DATABASE_URL": chains_db, "CELERY_BROKER_URL": broker_url}
    return worker_factory(APP, concurrency=4, beat=True, queues=["chains"], env=env)


def chain_of(chains: ModuleType, first: str) -> list[str]:
    """The run ids of a chain, oldest first, read link by link."""
    ids = [first]
    while (link := chains.cx.get_run(ids[-1])).next_run_id is not None:
        ids.append(link.next_run_id)
    return ids


def scalar(chains: ModuleType, sql: str, **params: Any) -> Any:
    with chains.cx.db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


@pytest.mark.usefixtures("chain_worker")
def test_signals_sent_while_a_chain_hops_all_arrive(chains: ModuleType) -> None:
    count = 150
    handle = chains.tally.delay(count, [])
    refused = []
    for n in range(count):
        try:
            handle.signal("tick", n)
        except Exception as error:  # every refusal is the failure
            refused.append(f"{n}: {error!r}")
        time.sleep(random.uniform(0, 0.012))
    assert refused == [], f"{len(refused)} of {count} signals refused: {refused[:3]}"
    assert handle.result(timeout=60) == list(range(count)), "each signal once, in order"
    runs = chain_of(chains, handle.run_id)
    assert len(runs) == count
    for run_id in runs:
        assert_sound(chains.cx.history(run_id))


@pytest.mark.usefixtures("chain_worker")
def test_a_cancel_lands_on_whichever_run_is_the_tip(chains: ModuleType) -> None:
    handles = []
    refused = []
    for _ in range(25):  # one at a time: a chain alone hops fastest
        handle = chains.hopper.delay(0, 100_000)
        handles.append(handle)
        time.sleep(random.uniform(0.05, 0.3))
        try:
            handle.cancel()
        except Exception as error:  # every refusal is the failure
            refused.append(f"{handle.run_id}: {error!r}")
    assert refused == [], f"{len(refused)} of {len(handles)} cancels refused: {refused[:3]}"
    lengths = [len(chain_of(chains, h.run_id)) for h in handles]
    time.sleep(0.5)  # a chain that still hops would grow meanwhile
    for handle, length in zip(handles, lengths, strict=True):
        runs = chain_of(chains, handle.run_id)
        assert len(runs) == length, "no generation may start after the cancel"
        assert chains.cx.get_run(runs[-1]).state == "cancelled"
        with pytest.raises(RunCancelled):
            handle.result(timeout=5)


@pytest.mark.usefixtures("chain_worker")
def test_a_continued_run_leaves_no_pending_work(chains: ModuleType) -> None:
    handle = chains.leave_behind.delay(0)
    first = handle.run_id
    running = "SELECT count(*) FROM cx_attempts a JOIN cx_tasks t ON t.id = a.task_id"
    running += " WHERE t.run_id = :id AND a.outcome = 'running'"
    wait_for(lambda: scalar(chains, running, id=first) == 1, what="the first activity to run")
    handle.signal("go")
    assert handle.result(timeout=30) == 1
    assert chains.cx.get_run(first).state == "continued"
    assert [t.state for t in chains.cx.activity_tasks(first)] == ["cancelled", "cancelled"]
    assert scalar(chains, running, id=first) == 0
    unresolved = "SELECT count(*) FROM cx_waits WHERE run_id = :id AND NOT resolved"
    assert scalar(chains, unresolved, id=first) == 0
    published = "SELECT sum(publish_count) FROM cx_tasks WHERE run_id = :id"
    before = scalar(chains, published, id=first)
    time.sleep(1.5)  # several upkeep passes, well past the re-publish delay
    assert chains.cx.upkeep().tasks_published == 0
    assert scalar(chains, published, id=first) == before, "upkeep must publish none of them again"
