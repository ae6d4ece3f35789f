"""Claims outlive their TTL while the worker is alive; heartbeats carry cancellation."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import text

from continuum_celery import NotInWorkflow, RunCancelled, activity
from tests.integration.checks import assert_sound, types

pytestmark = pytest.mark.usefixtures("worker")


def task_row(flows: ModuleType, run_id: str) -> dict[str, object]:
    with flows.cx.db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT attempt, state, heartbeat_details FROM cx_tasks WHERE run_id = :r"),
            {"r": run_id},
        ).one()
    return dict(row._mapping)


def test_a_long_activity_keeps_its_claim_past_the_claim_ttl(flows: ModuleType) -> None:
    key = uuid.uuid4().hex
    handle = flows.long_running.delay(key, 3.0)  # claim TTL is 1 s in this app
    beats = handle.result(timeout=30)
    assert beats >= 20
    assert flows.calls(key) == 1, "never timed out and re-run"
    history = handle.history()
    assert_sound(history)
    assert types(history) == ["activity_scheduled", "activity_completed"]
    assert history[1].data["attempt"] == 1
    row = task_row(flows, handle.run_id)
    assert row["state"] == "completed"
    assert row["heartbeat_details"] == {"beats": beats - 1}
    [task] = flows.cx.activity_tasks(handle.run_id)
    assert task.heartbeat_details == {"beats": beats - 1} and task.attempt == 1


def test_cancel_reaches_a_running_activity_through_its_heartbeat(
    flows: ModuleType, state_dir: Path
) -> None:
    key = uuid.uuid4().hex
    handle = flows.long_running.delay(key, 20.0)
    deadline = time.monotonic() + 15
    while flows.calls(key) == 0:
        assert time.monotonic() < deadline, "activity never started"
        time.sleep(0.05)
    handle.cancel()
    with pytest.raises(RunCancelled):
        handle.result(timeout=5)
    marker = state_dir / f"cancelled-{key}"
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert time.monotonic() < deadline, "the activity never learned of the cancel"
        time.sleep(0.05)
    # The request is journaled; the activity's outcome is not, as the run ended first.
    assert types(handle.history()) == ["activity_scheduled", "cancel_requested"]


def test_activity_facade_outside_an_activity() -> None:
    with pytest.raises(NotInWorkflow):
        activity.heartbeat()
    with pytest.raises(NotInWorkflow):
        activity.info()
