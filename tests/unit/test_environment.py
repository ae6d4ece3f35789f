"""WorkflowEnvironment: the engine over an in-memory journal, in virtual time."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from continuum_celery.errors import (
    NotSerializable,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunTerminated,
    UnknownActivity,
    UnknownWorkflow,
)
from continuum_celery.testing import EnvRunHandle, StuckRun, WorkflowEnvironment
from tests.unit.envflows import Shop, make


@pytest.fixture
def shop() -> Shop:
    return make()


@pytest.fixture
def env(shop: Shop) -> WorkflowEnvironment:
    return WorkflowEnvironment(shop.cx)


def test_activity_result_and_signal(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["order"], "o-1", 100)
    assert handle.state == "running" and handle.waiting_on() == ["signal:review:0"]
    handle.signal("review", "approved")
    assert handle.result() == {"verdict": "approved",
                               "receipt": {"order": "o-1", "charged": 100}}  # fmt: skip
    assert shop.calls == [("charge", "o-1", 100)]
    assert handle.state == "completed"


def test_one_hour_signal_timeout_is_skipped(env: WorkflowEnvironment, shop: Shop) -> None:
    began, start = time.perf_counter(), env.now()
    handle = env.start(shop.flows["order"], "o-2", 7)
    assert handle.result()["verdict"] == "auto-approved"
    assert env.now() - start == timedelta(hours=1)
    assert time.perf_counter() - began < 1.0
    assert [e.type for e in handle.history()][-1] == "timer_fired"


def test_thirty_day_sleep_takes_milliseconds(env: WorkflowEnvironment, shop: Shop) -> None:
    began = time.perf_counter()
    assert env.start(shop.flows["month"], 30).result() == "30 days, 0:00:00"
    assert time.perf_counter() - began < 0.1


def test_env_sleep_moves_time_by_hand(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["order"], "o-3", 1)
    env.sleep(timedelta(minutes=59))
    assert handle.state == "running"
    env.sleep(60)
    assert handle.state == "completed"
    assert handle.result()["verdict"] == "auto-approved"
    with pytest.raises(ValueError, match="timedelta or seconds"):
        env.sleep(-1)


def test_retry_backoff_in_virtual_time(env: WorkflowEnvironment, shop: Shop) -> None:
    shop.flaky["o-4"] = 3  # backoff 60 s, 120 s, 240 s before the fourth attempt
    start = env.now()
    handle = env.start(shop.flows["order"], "o-4", 9)
    assert handle.state == "running" and len(shop.calls) == 1  # the first backoff is ahead
    handle.signal("review", "ok")  # buffered until the workflow waits for it
    assert handle.result()["verdict"] == "ok"
    assert env.now() - start == timedelta(seconds=60 + 120 + 240)
    assert [c for c in shop.calls if c[0] == "charge"] == [("charge", "o-4", 9)] * 4
    completed = [e for e in handle.history() if e.type == "activity_completed"]
    assert completed[0].data["attempt"] == 4
    assert env.activities.attempts["shop.charge"] == 4


def test_retries_exhausted_fail_the_run(env: WorkflowEnvironment, shop: Shop) -> None:
    shop.flaky["o-5"] = 99
    handle = env.start(shop.flows["order"], "o-5", 9)
    with pytest.raises(RunFailed, match=r"ActivityFailed: shop.charge failed after 6 attempt"):
        handle.result()
    assert handle.get_run().traceback is not None


def test_non_retryable_fails_at_once(env: WorkflowEnvironment, shop: Shop) -> None:
    with pytest.raises(RunFailed, match="NonRetryableError: negative amount"):
        env.start(shop.flows["order"], "o-6", -1).result()
    assert len(shop.calls) == 1


def test_cancel_lets_the_workflow_clean_up(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["cleanup"], "o-7")
    handle.cancel("customer left")
    with pytest.raises(RunCancelled):
        handle.result()
    assert shop.calls == [("refund", "o-7")]
    assert handle.get_run().error == "cancelled: customer left"
    with pytest.raises(RunFinished):
        handle.signal("never")


def test_children_report_to_their_parent(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["parent"], ["a", "b"])
    assert [r["verdict"] for r in handle.result()] == ["auto-approved", "auto-approved"]
    types = [e.type for e in handle.history()]
    assert types.count("child_started") == 2 and types.count("child_completed") == 2


def test_cancel_reaches_children(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["parent"], ["c"])
    handle.cancel()
    with pytest.raises(RunCancelled):
        handle.result()
    child = next(r for r in env.journal.runs.by_id.values() if r.parent_run_id == handle.run_id)
    assert child.state == "cancelled" and child.cancel_reason.startswith("ancestor run")


def test_continue_as_new_follows_the_chain(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["counter"], 3, 0)
    handle.signal("add", 100)  # buffered, carried to the successor that waits for it
    assert handle.result() == 3 + 2 + 1 + 100
    first = env.journal.runs.get(handle.run_id)
    assert first.state == "continued" and handle.get_run().continued_from is not None


def test_saga_compensates(env: WorkflowEnvironment, shop: Shop) -> None:
    outcomes = env.start(shop.flows["saga"], "o-8").result()
    assert outcomes == [["shop.refund", True, "refunded o-8"]]
    assert [c[0] for c in shop.calls] == ["charge", "ship", "refund"]


def test_mock_activity_replaces_the_body(env: WorkflowEnvironment, shop: Shop) -> None:
    env.mock_activity("shop.charge", lambda order_id, amount: {"mocked": amount})
    handle = env.start(shop.flows["order"], "o-9", 3)
    handle.signal("review", "yes")
    assert handle.result()["receipt"] == {"mocked": 3}
    assert shop.calls == []
    with pytest.raises(TypeError, match="must be callable"):
        env.mock_activity("shop.charge", "nope")  # type: ignore[arg-type]


def test_unknown_activity_is_named(shop: Shop) -> None:
    env = WorkflowEnvironment(shop.cx)
    shop.cx.registry.activities.pop("shop.charge")
    with pytest.raises(UnknownActivity, match=r"mock it with env\.mock_activity"):
        env.start(shop.flows["order"], "o-10", 1)


def test_drift_blocks_the_run(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["drifting"], "o-11")
    shop.drift["new_code"] = True
    env.restart_workers()  # a deploy: the next wake replays from the top
    handle.signal("go")
    assert handle.state == "blocked"
    with pytest.raises(StuckRun, match="ReplayDriftError"):
        handle.result()


def test_guard_rejects_the_clock(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["clock_reader"])
    assert handle.state == "blocked"
    assert "NondeterminismError" in (handle.get_run().error or "")
    assert "workflow.now()" in (handle.get_run().error or "")


def test_a_run_waiting_forever_is_stuck(env: WorkflowEnvironment, shop: Shop) -> None:
    handle = env.start(shop.flows["cleanup"], "o-12")
    with pytest.raises(StuckRun, match="signal:never:0"):
        handle.result()


def test_environments_share_nothing(shop: Shop) -> None:
    one, two = WorkflowEnvironment(shop.cx), WorkflowEnvironment(shop.cx)
    one.start(shop.flows["month"], 1).result()
    assert two.now() < one.now() and not two.journal.runs.by_id


def test_bad_input_is_refused_with_nothing_written(env: WorkflowEnvironment, shop: Shop) -> None:
    with pytest.raises(UnknownWorkflow):
        env.start("shop.nothing")
    with pytest.raises(NotSerializable):
        env.start(shop.flows["month"], object())
    assert not env.journal.runs.by_id
    handle = env.start(shop.flows["order"], "o-13", 1)
    before = len(handle.history())
    with pytest.raises(NotSerializable):
        handle.signal("review", {1, 2})
    with pytest.raises(TypeError, match="signal name"):
        handle.signal("", "x")
    assert len(handle.history()) == before and not env.journal.runs.get(handle.run_id).buffered


def test_a_deploy_of_fitting_code_resumes_a_blocked_run(
    env: WorkflowEnvironment, shop: Shop
) -> None:
    handle = env.start(shop.flows["drifting"], "o-14")
    shop.drift["new_code"] = True
    env.restart_workers()
    handle.signal("go")
    assert handle.state == "blocked"
    shop.drift["new_code"] = False  # the edit is reverted and deployed
    env.restart_workers()
    assert handle.result() == "done"


def test_an_idempotency_key_runs_the_body_once(env: WorkflowEnvironment, shop: Shop) -> None:
    first = env.start(shop.flows["keyed"], "o-15", 5).result()
    second = env.start(shop.flows["keyed"], "o-15", 6).result()  # another run, same key
    assert first == second == {"order": "o-15", "charged": 5}
    assert shop.calls == [("charge", "o-15", 5)]


def test_close_unwinds_runs_still_waiting(shop: Shop) -> None:
    with WorkflowEnvironment(shop.cx) as env:
        handle = env.start(shop.flows["cleanup"], "o-16")
        assert handle.run_id in env.residents
    assert len(env.residents) == 0
    assert shop.calls == []  # unwinding is not a cancel: no cleanup activity ran


def test_start_by_name(env: WorkflowEnvironment, shop: Shop) -> None:
    assert env.start(shop.flows["month"].name, 2).result() == "2 days, 0:00:00"


def test_terminate_stops_the_run_and_tells_the_parent(env: WorkflowEnvironment, shop: Shop) -> None:
    parent = env.start(shop.flows["parent"], ["d"])
    child = next(r for r in env.journal.runs.by_id.values() if r.parent_run_id == parent.run_id)
    EnvRunHandle(env, child.run_id).terminate("stuck order")
    with pytest.raises(RunTerminated):
        EnvRunHandle(env, child.run_id).result()
    with pytest.raises(RunFailed, match="terminated: stuck order"):
        parent.result()
    with pytest.raises(ValueError, match="needs a reason"):
        parent.terminate("")
