"""What a signal costs, and that one landing during a replay is not lost.

Against the real journal, without Celery: the wakeup a signal publishes is
``Advancer.advance``. Commits and rollbacks are counted on the worker's own engine.
"""

from __future__ import annotations

import threading
import time
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
from continuum_celery.runtime import advance
from continuum_celery.runtime.advance import Advancer
from continuum_celery.runtime.live import SystemSources

TWO = "signal_wake.two"
OPERATOR = Actor("test", None)


def two_signals() -> list[Any]:
    return [workflow.wait_signal("a"), workflow.wait_signal("b")]


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


def test_a_signal_wake_is_one_transaction_where_the_run_is_held_live_or_short(
    journal_db: Database, worker_db: Database
) -> None:
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    new_advancer(worker_db, Wakeups()).advance(run_id)  # parks on "a"

    fresh = new_advancer(worker_db, Wakeups())  # another process: nothing resident
    counted = Transactions(worker_db)
    assert client.deliver_signal(run_id, "a", 1, OPERATOR) == run_id
    assert fresh.advance(run_id)  # a short history: replayed from the top under the lock
    assert (counted.commits, counted.rollbacks) == (1, 0), "no lease: one transaction"
    assert state(journal_db, run_id)[:2] == ("running", False)

    counted.reset()
    assert client.deliver_signal(run_id, "b", 2, OPERATOR) == run_id
    assert fresh.advance(run_id)  # held live now, and it ends: one transaction
    assert (counted.commits, counted.rollbacks) == (1, 0)
    assert state(journal_db, run_id) == ("completed", False, [1, 2])


def test_a_long_history_takes_a_lease_to_replay_from_the_top(
    journal_db: Database, worker_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(advance, "SHORT_HISTORY", 1)  # "a" awaited and received: 2 events
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    new_advancer(worker_db, Wakeups()).advance(run_id)
    fresh = new_advancer(worker_db, Wakeups())
    counted = Transactions(worker_db)
    client.deliver_signal(run_id, "a", 1, OPERATOR)
    assert fresh.advance(run_id)
    # the look that found the history long (it writes nothing), a lease, the decision
    assert (counted.commits, counted.rollbacks) == (3, 0)
    counted.reset()
    client.deliver_signal(run_id, "b", 2, OPERATOR)
    assert fresh.advance(run_id)  # held live now: one transaction whatever the length
    assert (counted.commits, counted.rollbacks) == (1, 0)
    assert state(journal_db, run_id) == ("completed", False, [1, 2])


def test_a_replay_frozen_under_the_row_lock_loses_it_within_the_lease_ttl(
    journal_db: Database, worker_db: Database
) -> None:
    """Postgres ends a session idle in the wake's transaction past the lease TTL: the
    run's other writers get the row, and the wake goes on through the lease path."""
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    advancer = Advancer(RunStore(worker_db, lease_ttl=1.0), registry(), Wakeups(),  # type: ignore[arg-type]
                        SystemSources(), "w1")  # fmt: skip
    advancer.eager_wake = True
    advancer.advance(run_id)
    advancer.residents.clear()
    client.deliver_signal(run_id, "a", 1, OPERATOR)
    paths: list[str] = []
    replay, acquire = advancer._decide, advancer.runs.acquire
    signalled: list[float] = []

    def frozen_once(lease: Lease, code: Workflow) -> Decision:
        if not paths:
            paths.append("under the lock")
            began = time.monotonic()
            client.deliver_signal(run_id, "b", 2, OPERATOR)  # waits for the row
            signalled.append(time.monotonic() - began)
        return replay(lease, code)

    def leased(run: str, owner: str) -> Lease | None:
        paths.append("lease")
        return acquire(run, owner)

    advancer._decide = frozen_once  # type: ignore[method-assign]
    advancer.runs.acquire = leased  # type: ignore[method-assign]
    frozen = threading.Thread(target=advancer.advance, args=(run_id,))
    frozen.start()
    frozen.join(20)
    assert paths == ["under the lock", "lease"]
    assert 0.9 < signalled[0] < 5, "the row came free when the idle session was ended"
    assert state(journal_db, run_id) == ("completed", False, [1, 2])


def test_a_buffered_signal_is_one_transaction_with_its_audit_row(journal_db: Database) -> None:
    """Lock the chain's newest run, then write everything else in one statement."""
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    counted = Transactions(journal_db)
    assert client.deliver_signal(run_id, "a", 1, OPERATOR) is None  # buffered: no await yet
    assert (counted.commits, counted.rollbacks) == (1, 0)
    with journal_db.engine.connect() as conn:
        buffered = conn.execute(
            text("SELECT name, payload FROM cx_signals WHERE run_id = :id"), {"id": run_id}
        ).all()
        audited = conn.execute(
            text("SELECT action, details FROM cx_audit WHERE run_id = :id"), {"id": run_id}
        ).all()
    assert [tuple(r) for r in buffered] == [("a", 1)]
    assert [tuple(r) for r in audited] == [("signal", {"name": "a"})]


@pytest.mark.parametrize("resident", [True, False], ids=["held live", "leased"])
def test_a_signal_landing_during_the_wake_replay_is_not_lost(
    journal_db: Database, worker_db: Database, resident: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held live, the replay runs under the run-row lock: the signal waits for its
    commit, then finds the await that commit wrote and sets the wake marker again.
    Leased, the signal is buffered meanwhile and the commit that awaits it takes it."""
    client = RunStore(journal_db)
    run_id = start(client, TWO)
    advancer = new_advancer(worker_db, Wakeups())
    advancer.advance(run_id)
    if not resident:
        advancer.residents.clear()
        monkeypatch.setattr(advance, "SHORT_HISTORY", 0)
    client.deliver_signal(run_id, "a", 1, OPERATOR)

    landed: list[str | None] = []
    sender = threading.Thread(
        target=lambda: landed.append(client.deliver_signal(run_id, "b", 2, OPERATOR))
    )
    replay = advancer._decide  # both paths replay through it

    def replay_while_signalled(lease: Lease, code: Workflow) -> Decision:
        if not sender.is_alive() and not landed:
            sender.start()
            sender.join(0.3)
            assert sender.is_alive() == resident, "only a lock-held replay holds it up"
        return replay(lease, code)

    advancer._decide = replay_while_signalled  # type: ignore[method-assign]
    advancer.advance(run_id)
    sender.join(10)
    if resident:
        assert landed == [run_id], "the signal resolved the await the replay committed"
        assert state(journal_db, run_id)[:2] == ("running", True), "and marked the run"
        advancer._decide = replay  # type: ignore[method-assign]
        assert advancer.advance(run_id)
    else:
        assert landed == [None], "buffered: the await was not committed yet"
    assert state(journal_db, run_id) == ("completed", False, [1, 2])
