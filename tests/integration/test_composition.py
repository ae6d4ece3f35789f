"""Child workflows, continue-as-new, cancel cascades, sagas and activity idempotency."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from continuum_celery import RunCancelled
from tests.integration.checks import assert_sound, types

pytestmark = pytest.mark.usefixtures("worker")


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_parent_with_three_children(flows: ModuleType) -> None:
    handle = flows.parent_flow.delay(3)
    result = handle.result(timeout=30)
    assert result["results"] == [0, 2, 4]
    history = handle.history()
    assert_sound(history)
    assert types(history).count("child_started") == 3
    assert types(history).count("child_completed") == 3
    started = [e for e in history if e.type == "child_started"]
    assert [e.data["child_run_id"] for e in started] == result["children"]
    for child_id in result["children"]:
        child = flows.cx.get_run(child_id)
        assert child.parent_run_id == handle.run_id and child.state == "completed"
        assert_sound(flows.cx.history(child_id))


def test_cancelling_a_parent_cascades_to_its_waiting_child(flows: ModuleType) -> None:
    handle = flows.parent_of_waiter.delay()
    wait_for(lambda: "child_started" in types(handle.history()), what="the child to start")
    child_id = next(e for e in handle.history() if e.type == "child_started").data["child_run_id"]
    wait_for(lambda: "signal_awaited" in types(flows.cx.history(child_id)), what="child await")
    handle.cancel()
    with pytest.raises(RunCancelled):
        handle.result(timeout=10)
    with pytest.raises(RunCancelled):  # the child got a request of its own
        flows.cx.run(child_id).result(timeout=10)
    child = flows.cx.get_run(child_id)
    assert child.error is not None and handle.run_id in child.error


def test_a_parent_waiting_on_a_cancelled_child_sees_child_cancelled(flows: ModuleType) -> None:
    handle = flows.parent_of_waiter.delay()
    wait_for(lambda: "child_started" in types(handle.history()), what="the child to start")
    child_id = next(e for e in handle.history() if e.type == "child_started").data["child_run_id"]
    flows.cx.cancel(child_id)
    assert handle.result(timeout=30) == "child cancelled"
    assert types(handle.history())[-1] == "child_cancelled"


def test_a_five_link_chain_driven_through_its_first_run_id(flows: ModuleType) -> None:
    first = flows.countdown.delay(5, 0)
    assert first.result(timeout=60) == 15
    run = flows.cx.get_run(first.run_id)
    assert run.state == "continued" and run.next_run_id is not None
    chain = [first.run_id]
    while (link := flows.cx.get_run(chain[-1])).next_run_id is not None:
        chain.append(link.next_run_id)
    assert len(chain) == 6, "5 continuations after the first run"
    for run_id in chain:
        assert_sound(flows.cx.history(run_id))
        assert flows.cx.get_run(run_id).continued_from == (
            chain[chain.index(run_id) - 1] if run_id != chain[0] else None
        )
    assert first.state == "completed", "the handle follows the chain to its tip"


def test_signals_to_the_first_run_follow_the_chain(flows: ModuleType) -> None:
    first = flows.relay.delay(5, [])
    for n in range(5):
        first.signal("baton", n)
        time.sleep(0.05)
    assert first.result(timeout=60) == [0, 1, 2, 3, 4]


def test_cancel_through_the_first_run_reaches_the_tip(flows: ModuleType) -> None:
    first = flows.relay.delay(3, [])
    first.signal("baton", "a")
    wait_for(lambda: flows.cx.get_run(first.run_id).state == "continued", what="handover")
    first.cancel()
    with pytest.raises(RunCancelled):
        first.result(timeout=10)


@pytest.mark.parametrize("parallel", [False, True])
def test_a_three_step_saga_rolls_back(flows: ModuleType, state_dir: Path, parallel: bool) -> None:
    key = uuid.uuid4().hex
    handle = flows.trip.delay(key, parallel)
    outcomes = handle.result(timeout=30)
    assert [o["result"] for o in outcomes] == ["unbooked car", "unbooked hotel", "unbooked flight"]
    history = handle.history()
    assert_sound(history)
    assert types(history).count("compensation_completed") == 3
    scheduled = [e.seq for e in history if e.type == "compensation_scheduled"]
    targets = [e.data["args"][1] for e in history if e.type == "compensation_scheduled"]
    assert targets == ["car", "hotel", "flight"], "newest first"
    if parallel:
        assert scheduled == list(range(scheduled[0], scheduled[0] + 3)), "one transaction"
    else:
        order = (state_dir / f"unbooked-{key}").read_text().split()
        assert order == ["car", "hotel", "flight"]


def test_a_failed_compensation_does_not_stop_the_others(flows: ModuleType) -> None:
    key = f"fail-{uuid.uuid4().hex}"
    outcomes = flows.trip.delay(key, False).result(timeout=30)
    assert [o["ok"] for o in outcomes] == [True, False, True]
    assert "hotel refuses to cancel" in outcomes[1]["error"]
    assert flows.calls(f"{key}-unbook") == 3


def test_an_idempotency_key_reused_across_two_runs_runs_the_body_once(
    flows: ModuleType,
) -> None:
    key = uuid.uuid4().hex
    first = flows.checkout.delay(key).result(timeout=30)
    second_handle = flows.checkout.delay(key)
    second = second_handle.result(timeout=30)
    assert second == first
    assert flows.calls(f"pay-{key}") == 1
    assert types(second_handle.history()) == ["activity_scheduled", "activity_completed"]


def test_concurrent_winners_of_one_key_journal_one_result(flows: ModuleType) -> None:
    key = uuid.uuid4().hex
    handles = [flows.checkout.delay(key) for _ in range(4)]
    results = [h.result(timeout=30) for h in handles]
    assert all(r == results[0] for r in results)
    with flows.cx.db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM cx_activity_results WHERE idempotency_key = :k"),
            {"k": f"pay-{key}"},
        ).scalar_one()
    assert stored == 1
