"""A signal sent by a process with the workflow's code resumes the run in its own
transaction: the replay runs under the row lock the delivery holds, and the
run's next decisions commit with the signal. Anything that keeps that replay from
standing in for a worker's leaves today's path: the signal commits alone and a
wakeup is published.

Against the real journal; the broker is replaced by a recorder of what would be
published. Runs start eagerly (the start commits the run waiting on its signal),
so no worker is needed to park them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import text

from continuum_celery import Continuum, workflow
from continuum_celery.engine.commands import Decision
from continuum_celery.journal import eager, queries, waking
from continuum_celery.journal.records import TaskMessage
from tests.integration.test_signal_wake import Transactions

DRIFT = {"on": False}


class Recorder:
    """What would go to the broker, after the commit."""

    def __init__(self) -> None:
        self.advanced: list[str] = []
        self.activities: list[str] = []

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advanced.append(run_id)

    def publish_activity(self, message: TaskMessage) -> None:
        self.activities.append(message.activity)


def app_with_code(url: str) -> Continuum:
    cx = Continuum(Celery("esig", broker="memory://", set_as_current=False), url,
                   worker_upkeep=False)  # fmt: skip

    @cx.activity(name="esig.double")
    def double(n: int) -> int:
        return 2 * n

    @cx.workflow(name="esig.park")
    def park() -> Any:
        return workflow.wait_signal("go")

    @cx.workflow(name="esig.then_double")
    def then_double() -> Any:
        return double(workflow.wait_signal("go"))

    @cx.workflow(name="esig.relay")
    def relay() -> Any:
        return [workflow.wait_signal("first"), workflow.wait_signal("go")]

    @cx.workflow(name="esig.raising")
    def raising() -> Any:
        raise ValueError(workflow.wait_signal("go"))

    @cx.workflow(name="esig.drifting")
    def drifting() -> Any:
        if DRIFT["on"]:
            double(0)  # not in the history the run was parked with
        return workflow.wait_signal("go")

    return cx


def recorded(cx: Continuum) -> Recorder:
    """Swap the broker for a recorder, on the client and its in-process worker."""
    recorder = Recorder()
    cx.outbox = recorder  # type: ignore[assignment]
    cx.advancer.publisher = recorder
    return recorder


@pytest.fixture(scope="module")
def cx(journal_url: str) -> Iterator[Continuum]:
    app = app_with_code(journal_url)
    yield app
    app.db.dispose()


@pytest.fixture
def sent(cx: Continuum) -> Recorder:
    DRIFT["on"] = False
    cx.advancer.residents.clear()
    return recorded(cx)


def run_row(cx: Continuum, run_id: str) -> Any:
    sql = "SELECT state, wake_at IS NOT NULL AS marked, result FROM cx_runs WHERE id = :id"
    with cx.db.engine.connect() as conn:
        return conn.execute(text(sql), {"id": run_id}).one()


def types(cx: Continuum, run_id: str) -> list[str]:
    return [e.type for e in cx.history(run_id)]


def start(cx: Continuum, name: str) -> str:
    run_id = cx.start(cx.registry.workflow(name)).run_id
    assert run_row(cx, run_id).state == "running"
    return run_id


def assert_woken_not_advanced(cx: Continuum, sent: Recorder, run_id: str) -> None:
    """Today's path: the signal alone is journaled, the run marked and woken."""
    assert sent.advanced == [run_id] and sent.activities == []
    assert types(cx, run_id)[-1] == "signal_received"
    row = run_row(cx, run_id)
    assert (row.state, row.marked) == ("running", True)


# --- resumed in the signal's transaction ----------------------------------------------


def test_a_signal_completes_its_run_inside_the_call(cx: Continuum, sent: Recorder) -> None:
    run_id = start(cx, "esig.park")
    counted = Transactions(cx.db)
    cx.signal(run_id, "go", 7)
    assert (counted.commits, counted.rollbacks) == (1, 0), "the signal and the ending"
    assert tuple(run_row(cx, run_id)) == ("completed", False, 7)
    assert sent.advanced == [] and sent.activities == [], "no wakeup"
    assert run_id not in cx.advancer.residents, "the client keeps no instance"
    assert [a.action for a in cx.audit(run_id)] == ["signal"]


def test_the_next_activity_is_published_by_the_signaller(cx: Continuum, sent: Recorder) -> None:
    run_id = start(cx, "esig.then_double")
    counted = Transactions(cx.db)
    cx.signal(run_id, "go", 4)
    assert (counted.commits, counted.rollbacks) == (1, 0)
    assert sent.activities == ["esig.double"] and sent.advanced == []
    assert types(cx, run_id)[-2:] == ["signal_received", "activity_scheduled"]
    assert tuple(run_row(cx, run_id)) == ("running", False, None)


def test_a_buffered_signal_taken_by_the_replay_wakes_the_run_again(
    cx: Continuum, sent: Recorder
) -> None:
    """The signal "go" waits in the buffer; "first" resumes the run, whose replay takes "go"
    from the buffer: it has input its code has not seen, so it is woken."""
    run_id = start(cx, "esig.relay")
    cx.signal(run_id, "go", 2)
    assert sent.advanced == [], "buffered: nothing to wake, nothing replayed"
    assert run_row(cx, run_id).marked is False
    cx.signal(run_id, "first", 1)
    assert sent.advanced == [run_id]
    assert types(cx, run_id)[-1] == "signal_received"
    cx.advancer.advance(run_id)
    assert tuple(run_row(cx, run_id)) == ("completed", False, [1, 2])


# --- today's path ---------------------------------------------------------------------


def test_a_process_without_the_code_wakes_the_run(
    cx: Continuum, sent: Recorder, journal_url: str
) -> None:
    bare = Continuum(Celery("bare", broker="memory://", set_as_current=False), journal_url,
                     worker_upkeep=False)  # fmt: skip
    try:
        elsewhere = recorded(bare)
        run_id = bare.start("esig.park").run_id  # by name: no code, no first decision
        cx.advancer.advance(run_id)  # a worker pins its version and parks it
        assert run_row(cx, run_id).marked is False
        elsewhere.advanced.clear()  # the start's wakeup
        bare.signal(run_id, "go", 1)
        assert_woken_not_advanced(bare, elsewhere, run_id)
    finally:
        bare.db.dispose()
    cx.advancer.advance(run_id)
    assert tuple(run_row(cx, run_id)) == ("completed", False, 1)


def test_a_live_lease_elsewhere_keeps_the_replay_there(cx: Continuum, sent: Recorder) -> None:
    run_id = start(cx, "esig.park")
    with cx.db.engine.begin() as conn:
        conn.execute(text("UPDATE cx_runs SET lease_owner = 'w9:1', lease_token = lease_token + 1,"
                          " lease_expires_at = clock_timestamp() + interval '1 minute'"
                          " WHERE id = :id"), {"id": run_id})  # fmt: skip
    cx.signal(run_id, "go", 1)
    assert_woken_not_advanced(cx, sent, run_id)


def test_a_long_history_is_left_to_a_worker(
    cx: Continuum, sent: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replayed from the top under the row lock only while short; a worker may hold a
    longer one live and resume it without a replay."""
    run_id = start(cx, "esig.relay")
    cx.signal(run_id, "first", 1)
    monkeypatch.setattr(waking, "SHORT_HISTORY", 2)  # "first" awaited, received, "go" awaited
    cx.signal(run_id, "go", 2)
    assert_woken_not_advanced(cx, sent, run_id)


def test_a_replay_that_drifts_is_left_to_a_worker(cx: Continuum, sent: Recorder) -> None:
    run_id = start(cx, "esig.drifting")
    DRIFT["on"] = True
    cx.signal(run_id, "go", 1)
    assert_woken_not_advanced(cx, sent, run_id)


def test_a_workflow_that_raises_on_the_signal_fails_on_a_worker(
    cx: Continuum, sent: Recorder
) -> None:
    """A failure is final: it is not decided where the code's surroundings may differ."""
    run_id = start(cx, "esig.raising")
    cx.signal(run_id, "go", "rejected")
    assert_woken_not_advanced(cx, sent, run_id)
    cx.advancer.advance(run_id)
    assert run_row(cx, run_id).state == "failed"


def test_a_replay_that_raises_is_left_to_a_worker(
    cx: Continuum, sent: Recorder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = start(cx, "esig.park")

    def broken(*_args: Any) -> Decision:
        raise RuntimeError("replay broke")

    monkeypatch.setattr(cx.advancer, "_decide", broken)
    with caplog.at_level(logging.WARNING, "continuum_celery.advance"):
        cx.signal(run_id, "go", 1)
    assert "replay in the client failed" in caplog.text
    assert_woken_not_advanced(cx, sent, run_id)


def test_a_failed_write_of_the_replay_leaves_the_signal_alone(
    cx: Continuum, sent: Recorder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The replay's decisions are written, then something fails: the transaction is
    rolled back whole, and the signal is delivered again alone, its wakeup published."""
    run_id = start(cx, "esig.then_double")
    write = eager.apply

    def written_then_failed(*args: Any) -> Any:
        write(*args)
        raise RuntimeError("failed after writing")

    monkeypatch.setattr(eager, "apply", written_then_failed)
    with caplog.at_level(logging.WARNING, "continuum_celery.signals"):
        cx.signal(run_id, "go", 1)
    assert "replay at the signal failed" in caplog.text
    assert_woken_not_advanced(cx, sent, run_id)
    assert cx.activity_tasks(run_id) == [], "nothing of the replay is left"
    assert [a.action for a in cx.audit(run_id)] == ["signal"]
    monkeypatch.undo()
    cx.advancer.advance(run_id)  # the worker's wakeup, which runs the activity inline
    assert tuple(run_row(cx, run_id)) == ("completed", False, 2)


def test_eager_off_signals_as_before(cx: Continuum, sent: Recorder) -> None:
    run_id = start(cx, "esig.park")
    cx.eager = False
    try:
        cx.signal(run_id, "go", 1)
    finally:
        cx.eager = True
    assert_woken_not_advanced(cx, sent, run_id)


def test_a_signaller_frozen_in_its_replay_loses_the_row_within_the_lease_ttl(
    cx: Continuum, sent: Recorder, journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postgres ends a session idle in the signal's transaction past the lease TTL:
    the run's other writers get the row, nothing the frozen one wrote is kept, and
    once it thaws its signal is delivered again, alone, with a wakeup."""
    frozen = Continuum(Celery("frozen", broker="memory://", set_as_current=False), journal_url,
                       lease_ttl=1.0, worker_upkeep=False)  # fmt: skip
    frozen.registry = frozen.advancer.registry = cx.registry
    thawed = recorded(frozen)
    run_id = start(cx, "esig.relay")
    replay = frozen.advancer._decide

    def stuck(*args: Any) -> Decision:
        time.sleep(2.5)
        return replay(*args)

    monkeypatch.setattr(frozen.advancer, "_decide", stuck)
    sender = threading.Thread(target=frozen.signal, args=(run_id, "first", 1))
    sender.start()
    time.sleep(0.3)
    began = time.monotonic()
    cx.signal(run_id, "go", 2)  # waits for the row
    waited = time.monotonic() - began
    sender.join(10)
    frozen.db.dispose()
    assert 0.5 < waited < 2.2, "the row came free when the idle session was ended"
    assert sent.advanced == [], "'go' came first: buffered"
    assert thawed.advanced == [run_id], "'first' delivered alone, and the run woken"
    assert [a.action for a in cx.audit(run_id)] == ["signal", "signal"]
    cx.advancer.advance(run_id)
    assert tuple(run_row(cx, run_id)) == ("completed", False, [1, 2])


# --- the history, read with the lock ----------------------------------------------------


def same_code_elsewhere(cx: Continuum, journal_url: str, name: str) -> tuple[Continuum, Recorder]:
    """Another process with the workflow's code and nothing of the run in its cache."""
    other = Continuum(Celery(name, broker="memory://", set_as_current=False), journal_url,
                      worker_upkeep=False)  # fmt: skip
    other.registry = other.advancer.registry = cx.registry
    return other, recorded(other)


def test_a_signaller_that_never_saw_the_run_reads_its_history_with_the_lock(
    cx: Continuum, sent: Recorder, journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web process signalling runs it did not start pays no read of their history:
    the lock statement brings it. (A separate read would fail here, and the signal
    would fall back to a wakeup.)"""
    run_id = start(cx, "esig.relay")
    cx.signal(run_id, "first", 1)
    web, published = same_code_elsewhere(cx, journal_url, "web")
    try:
        monkeypatch.setattr(queries, "LOAD_EVENTS_UPTO", text("SELECT * FROM no_such_table"))
        counted = Transactions(web.db)
        web.signal(run_id, "go", 2)
        assert (counted.commits, counted.rollbacks) == (1, 0)
    finally:
        web.db.dispose()
    assert published.advanced == [] and published.activities == []
    assert tuple(run_row(cx, run_id)) == ("completed", False, [1, 2])


def test_events_committed_while_the_lock_waited_are_read_after_it(
    cx: Continuum, sent: Recorder, journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock statement's history is as of before it waited for the row: a
    signaller that held the row meanwhile committed more. That history is not
    taken as whole; the rest is read, and the replay sees everything."""
    run_id = start(cx, "esig.relay")
    slow, _ = same_code_elsewhere(cx, journal_url, "slow")
    web, published = same_code_elsewhere(cx, journal_url, "web")
    replay, reads, holding = slow.advancer._decide, [], threading.Event()
    absorb = web.runs.histories.absorb

    def held(*args: Any) -> Decision:
        holding.set()  # 'first' is delivered, the row locked until this replay commits
        time.sleep(1.0)
        return replay(*args)

    def absorbed(run: str, after: int, events: list[Any]) -> None:
        reads.append((after, len(events)))
        absorb(run, after, events)

    monkeypatch.setattr(slow.advancer, "_decide", held)
    monkeypatch.setattr(web.runs.histories, "absorb", absorbed)
    try:
        first = threading.Thread(target=slow.signal, args=(run_id, "first", 1))
        first.start()
        assert holding.wait(10)
        web.signal(run_id, "go", 2)  # waits for the row "first" holds
        first.join(10)
    finally:
        slow.db.dispose()
        web.db.dispose()
    history = types(cx, run_id)
    assert history == ["signal_awaited", "signal_received", "signal_awaited", "signal_received"]
    assert reads == [(0, 1)], "the lock statement saw the first await, not what 'first' added"
    assert published.advanced == [], "resumed in the signal, with the whole history"
    assert tuple(run_row(cx, run_id)) == ("completed", False, [1, 2])
