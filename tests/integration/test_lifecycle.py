"""Cooperative cancel, terminate, retry now and crash-safe defaults, on real workers."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from continuum_celery import RunCancelled, RunFailed, RunTerminated
from tests.integration.checks import assert_sound, types, wait_for
from tests.integration.harness import WorkerFactory

pytestmark = pytest.mark.usefixtures("worker")


def awaiting(flows: ModuleType, run_id: str) -> bool:
    return "signal_awaited" in types(flows.cx.history(run_id))


def test_a_cancelled_saga_compensates_then_ends_cancelled(
    flows: ModuleType, state_dir: Path
) -> None:
    key = uuid.uuid4().hex
    handle = flows.cancellable_trip.delay(key)
    wait_for(lambda: awaiting(flows, handle.run_id))
    handle.cancel("customer asked")
    flows.cx.cancel(handle.run_id, "asked twice")  # a no-op, not an error

    with pytest.raises(RunCancelled):
        handle.result(timeout=20)
    assert (state_dir / f"unbooked-{key}").read_text() == "flight\n"
    history = handle.history()
    [request] = [e for e in history if e.type == "cancel_requested"]
    assert request.data["reason"] == "customer asked"
    assert request.data["by"] == flows.cx.actor and "@" in flows.cx.actor
    assert types(history)[-3:] == [
        "cancel_requested", "compensation_scheduled", "compensation_completed",
    ]  # fmt: skip
    run = flows.cx.get_run(handle.run_id)
    assert (run.state, run.error, run.cancel_reason) == (
        "cancelled", "cancelled: customer asked", "customer asked",
    )  # fmt: skip
    assert_sound(history)


def test_terminate_stops_a_run_and_its_children_without_running_their_code(
    flows: ModuleType,
) -> None:
    handle = flows.parent_of_waiter.delay()
    wait_for(lambda: "child_started" in types(handle.history()))
    child_id = next(e for e in handle.history() if e.type == "child_started").data["child_run_id"]
    wait_for(lambda: awaiting(flows, child_id))

    handle.terminate("bad data")

    with pytest.raises(RunTerminated, match="terminated: bad data"):
        handle.result(timeout=5)
    assert isinstance(RunTerminated("x", "y"), RunFailed)
    assert handle.state == "terminated"
    [stop] = [e for e in handle.history() if e.type == "run_terminated"]
    assert stop.data["reason"] == "bad data"
    child = flows.cx.get_run(child_id)
    assert child.state == "terminated" and handle.run_id in (child.error or "")
    time.sleep(0.5)
    assert types(handle.history())[-1] == "run_terminated", "no workflow code ran after it"


def test_retry_activity_makes_an_attempt_waiting_out_its_backoff_due_now(
    flows: ModuleType,
) -> None:
    key = uuid.uuid4().hex
    handle = flows.patient.delay(key)
    wait_for(lambda: flows.calls(f"{key}-backs-off") == 1)
    wait_for(lambda: flows.cx.activity_tasks(handle.run_id)[0].attempt == 2)
    assert flows.cx.retry_activity(handle.run_id) == 1

    assert handle.result(timeout=15) == "second attempt"  # not an hour later
    assert flows.cx.retry_activity(handle.run_id) == 0


def test_a_failed_run_keeps_the_workflow_traceback(flows: ModuleType) -> None:
    handle = flows.uncaught_failure.delay(uuid.uuid4().hex)
    with pytest.raises(RunFailed):
        handle.result(timeout=20)
    run = flows.cx.get_run(handle.run_id)
    assert run.traceback is not None
    assert "Traceback (most recent call last)" in run.traceback
    assert "in uncaught_failure" in run.traceback and "ActivityFailed" in run.traceback


def test_kill_9_mid_activity_under_the_default_policy_ends_with_the_run_completed(
    flows: ModuleType, worker_env: dict[str, str], worker_factory: WorkerFactory
) -> None:
    key = uuid.uuid4().hex
    first = worker_factory(flows.__name__, env=worker_env, queues=[flows.INLINE_QUEUE])
    handle = flows.slow_on_queue.delay(key, 30.0)
    wait_for(lambda: flows.calls(key) == 1)
    # a claim is committed once the attempt has run a moment (before, a kill loses
    # it, and the same attempt is retaken: see the test below)
    wait_for(lambda: flows.cx.activity_tasks(handle.run_id)[0].state == "claimed")
    first.kill()  # SIGKILL, mid-activity

    worker_factory(flows.__name__, env=worker_env, queues=[flows.INLINE_QUEUE])
    assert handle.result(timeout=40) == "done"
    [task] = flows.cx.activity_tasks(handle.run_id)
    assert task.attempt == 2 and task.state == "completed"


def test_a_worker_killed_before_its_claim_committed_leaves_the_attempt_to_retake(
    flows: ModuleType, worker_env: dict[str, str], worker_factory: WorkerFactory
) -> None:
    """An attempt of an activity whose last body here was quick is claimed in a
    transaction that stays open until it settles, or for a moment of its body:
    killed before that, nothing of the claim was committed. The same attempt is
    claimed again (upkeep publishes it again), and the history has exactly one
    completion of it."""
    key = uuid.uuid4().hex
    first = worker_factory(
        flows.__name__, env=worker_env, queues=[flows.INLINE_QUEUE], concurrency=1
    )
    warm = flows.slow_on_queue.delay(f"{key}-warm", 0.0)
    assert warm.result(timeout=20) == "done"  # this process now knows the body as quick
    handle = flows.slow_on_queue.delay(key, 30.0)
    wait_for(lambda: flows.calls(key) == 1)
    first.kill()  # SIGKILL, as soon as the body started
    [task] = flows.cx.activity_tasks(handle.run_id)
    assert (task.attempt, task.state) == (1, "ready"), "the claim died with its worker"

    worker_factory(flows.__name__, env=worker_env, queues=[flows.INLINE_QUEUE])
    assert handle.result(timeout=40) == "done"
    [task] = flows.cx.activity_tasks(handle.run_id)
    assert (task.attempt, task.state) == (1, "completed")
    assert flows.calls(key) == 2, "the body ran again, as an activity may"
    history = handle.history()
    assert types(history).count("activity_completed") == 1
    assert_sound(history)


def test_a_body_that_kills_its_worker_every_time_uses_up_its_attempts(
    flows: ModuleType, worker_env: dict[str, str], worker_factory: WorkerFactory
) -> None:
    """The claim of a first delivery dies with its pool process; the redelivered
    message (Celery requeues it) is claimed durably before the body runs, so the
    crash counts as an attempt and the run fails once the attempts are used up,
    instead of the same attempt being retaken forever."""
    key = uuid.uuid4().hex
    worker_factory(flows.__name__, env=worker_env, queues=[flows.INLINE_QUEUE])
    handle = flows.killing.delay(key)
    with pytest.raises(RunFailed, match="WorkerLost"):
        handle.result(timeout=60)
    [task] = flows.cx.activity_tasks(handle.run_id)
    assert (task.attempt, task.state) == (2, "failed")
    assert 2 <= flows.calls(key) <= 4, "each attempt: at most its delivery and one redelivery"
    assert_sound(handle.history())


def test_a_fork_from_the_failure_reruns_only_what_failed(
    flows: ModuleType, state_dir: Path
) -> None:
    key = uuid.uuid4().hex
    failed = flows.fixable.delay(key)
    with pytest.raises(RunFailed):
        failed.result(timeout=20)
    (state_dir / f"fixed-{key}").touch()

    fork = flows.cx.fork(failed.run_id, reason="the outside world is fixed")

    assert fork.result(timeout=20) == [3, "fixed"]
    assert flows.calls(f"{key}-first") == 1, "the step before the failure was not redone"
    assert flows.calls(f"{key}-fixable") == 2
    run = flows.cx.get_run(fork.run_id)
    scheduled = [e for e in failed.history() if e.type == "activity_scheduled"]
    assert (run.forked_from, run.fork_seq) == (failed.run_id, scheduled[1].seq)
    assert flows.cx.get_run(failed.run_id).state == "failed", "the original is untouched"
    assert flows.cx.fork(failed.run_id).run_id == fork.run_id, "the same fork again"
    [note] = [e for e in fork.history() if e.type == "run_forked"]
    assert note.data["reason"] == "the outside world is fixed"
    assert_sound(fork.history())


def test_a_fork_at_a_given_seq_redoes_everything_after_it(
    flows: ModuleType, state_dir: Path
) -> None:
    key = uuid.uuid4().hex
    (state_dir / f"fixed-{key}").touch()
    done = flows.fixable.delay(key)
    assert done.result(timeout=20) == [3, "fixed"]

    again = flows.cx.fork(done.run_id, at_seq=1)

    assert again.result(timeout=20) == [3, "fixed"]
    assert flows.calls(f"{key}-first") == 2 and flows.calls(f"{key}-fixable") == 2
    with pytest.raises(ValueError, match="at_seq must be"):
        flows.cx.fork(done.run_id, at_seq=999)


def test_terminate_logs_the_run_workflow_who_and_why_at_error(
    flows: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    handle = flows.signal_or_timeout.delay(60.0)
    wait_for(lambda: awaiting(flows, handle.run_id))
    with caplog.at_level("ERROR", logger="continuum_celery.ops"):
        flows.cx.terminate(handle.run_id, "stuck order", actor="alice")
    [record] = [r for r in caplog.records if r.name == "continuum_celery.ops"]
    assert record.levelname == "ERROR"
    assert record.getMessage() == (
        f"run {handle.run_id} ({flows.signal_or_timeout.name}) terminated by alice: stuck order"
    )
