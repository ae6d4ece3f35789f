"""A signal's wake costs one transaction, and a signal landing mid-replay is not lost.

Against the real journal, without Celery: the wakeup a signal publishes is
``Advancer.advance``. Commits and rollbacks are counted on the worker's own engine.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from continuum_celery import workflow
from continuum_celery.definitions import Registry, Workflow
from continuum_celery.engine.commands import Decision
from continuum_celery.journal.audit import Actor
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import Lease, NewRun, TaskMessage
from continuum_celery.journal.store import RunStore
from continuum_celery.runtime.advance import EAGER_HISTORY, Advancer
from continuum_celery.runtime.live import SystemSources

TWO = "signal_wake.two"
LONG = "signal_wake.long"
OPERATOR = Actor("test", None)


def two_signals() -> list[Any]:
    return [workflow.wait_signal("a"), workflow.wait_signal("b")]


def many_signals(n: int) -> int:
    """A long journal: ``n`` signals, one await each, before the last one."""
    for _ in range(n):
        workflow.wait_signal("tick")
    return int(workflow.wait_signal("last"))


class Wakeups:
    def __init__(self) -> None:
        self.advanced: list[str] = []

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advanced.append(run_id)

    def publish_activity(self, message: TaskMessage) -> None:
        raise AssertionError("these workflows run no activities")


def registry() -> Registry:
    reg = Registry()
    reg.add_workflow(Workflow(two_signals, TWO, lambda *a, **k: None))
    reg.add_workflow(Workflow(many_signals, LONG, lambda *a, **k: None))
    return reg


class Transactions:
    """Commits and rollbacks on one engine."""

    def __init__(self, db: Database) -> None:
        self.commits = self.rollbacks = 0
        event.listen(db.engine, "commit", self._commit)
        event.listen(db.engine, "rollback", self._rollback)

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def _rollback(self, _conn: Any) -> None:
        self.rollbacks += 1

    def reset(self) -> None:
        self.commits = self.rollbacks = 0


@pytest.fixture
def worker_db(journal_url: str) -> Iterator[Database]:
    """The worker's engine, apart from the client's, so its transactions count alone."""
    db = Database(journal_url, pool_size=2)
    yield db
    db.dispose()


def new_advancer(db: Database, wakeups: Wakeups) -> Advancer:
    advancer = Advancer(RunStore(db), registry(), wakeups, SystemSources(), "w1")  # type: ignore[arg-type]
    advancer.eager_wake = True
    return advancer


def start(runs: RunStore, name: str, *args: Any) -> str:
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), name, list(args), {}))
    return run_id


def state(db: Database, run_id: str) -> tuple[str, bool, Any]:
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT state, wake_at IS NOT NULL AS marked, result FROM cx_runs WHERE id = :id"),
            {"id": run_id},
        ).one()
    return row.state, row.marked, row.result


def test_a_signal_wake_of_a_run_not_held_here_is_one_transaction(
    journal_db: Database, worker_db: Database
) -> None:
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    new_advancer(worker_db, Wakeups()).advance(run_id)  # parks on "a"

    fresh = new_advancer(worker_db, Wakeups())  # another process: nothing resident
    counted = Transactions(worker_db)
    assert client.deliver_signal(run_id, "a", 1, OPERATOR) == run_id
    assert fresh.advance(run_id)
    assert (counted.commits, counted.rollbacks) == (1, 0)
    assert state(journal_db, run_id)[:2] == ("running", False)

    counted.reset()
    assert client.deliver_signal(run_id, "b", 2, OPERATOR) == run_id
    assert fresh.advance(run_id)  # held live now, and it ends: still one transaction
    assert (counted.commits, counted.rollbacks) == (1, 0)
    assert state(journal_db, run_id) == ("completed", False, [1, 2])


def test_a_long_journal_is_leased_in_the_wake_transaction(
    journal_db: Database, worker_db: Database
) -> None:
    client = RunStore(journal_db)
    n = EAGER_HISTORY // 2 + 1  # two events a signal: the journal outgrows the limit
    run_id = start(client, LONG, n)
    warm = new_advancer(worker_db, Wakeups())
    warm.advance(run_id)
    for _ in range(n):
        client.deliver_signal(run_id, "tick", None, OPERATOR)
        warm.advance(run_id)
    assert len(client.history(run_id)) > EAGER_HISTORY

    fresh = new_advancer(worker_db, Wakeups())
    counted = Transactions(worker_db)
    client.deliver_signal(run_id, "last", 7, OPERATOR)
    assert fresh.advance(run_id)
    # the lease (taken in the wake's transaction) and the decision: no third one
    assert (counted.commits, counted.rollbacks) == (2, 0)
    assert state(journal_db, run_id)[0::2] == ("completed", 7)


@pytest.mark.parametrize("resident", [False, True], ids=["from the top", "held live"])
def test_a_signal_landing_during_the_wake_replay_is_not_lost(
    journal_db: Database, worker_db: Database, resident: bool
) -> None:
    """The replay runs under the run-row lock: the signal waits for the commit,
    then finds the await that commit wrote and sets the wake marker again."""
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    wakeups = Wakeups()
    advancer = new_advancer(worker_db, wakeups)
    advancer.advance(run_id)
    if not resident:
        advancer.residents.clear()
    client.deliver_signal(run_id, "a", 1, OPERATOR)

    landed: list[str | None] = []
    sender = threading.Thread(
        target=lambda: landed.append(client.deliver_signal(run_id, "b", 2, OPERATOR))
    )
    decide = advancer.decide

    def decide_while_signalled(lease: Lease) -> Decision | None:
        if not sender.is_alive() and not landed:
            sender.start()
            sender.join(0.3)  # it is blocked on the row lock this replay holds
            assert sender.is_alive(), "the signal did not wait for the replay's commit"
        return decide(lease)

    advancer.decide = decide_while_signalled  # type: ignore[method-assign]
    advancer.advance(run_id)
    sender.join(10)
    assert landed == [run_id], "the signal resolved the await the replay committed"
    assert state(journal_db, run_id)[:2] == ("running", True), "and marked the run to wake"

    advancer.decide = decide  # type: ignore[method-assign]
    assert advancer.advance(run_id)
    assert state(journal_db, run_id) == ("completed", False, [1, 2])
