"""Golden histories: real journals, committed, replayed against today's code.

Each file under ``tests/golden/`` is a run recorded from a real worker. Replaying
them pins the journal format and the replay semantics across releases: a change
that would strand runs in flight fails here first. Re-record (after a deliberate,
compatible format change) with ``CX_RECORD_GOLDEN=1 pytest tests/integration/test_golden.py``.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from continuum_celery import ReplayDriftError, RunFailed, testing
from continuum_celery.engine.events import DECISION_TYPES, RESOLUTION_TYPES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RECORD = os.environ.get("CX_RECORD_GOLDEN") == "1"


def _wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _await_then_signal(flows: ModuleType, handle: Any, name: str, payload: Any) -> None:
    _wait_for(lambda: any(e.type == "signal_awaited" for e in handle.history()))
    handle.signal(name, payload)


def _child_cancelled(flows: ModuleType) -> Any:
    handle = flows.parent_of_waiter.delay()
    _wait_for(lambda: any(e.type == "child_started" for e in handle.history()))
    child = next(e for e in handle.history() if e.type == "child_started").data["child_run_id"]
    flows.cx.cancel(child)
    return handle


SCENARIOS: dict[str, Callable[[ModuleType], Any]] = {
    "chain": lambda f: f.chain.delay(3),
    "fan_out": lambda f: f.fan_out.delay(3),
    "retry_then_success": lambda f: f.retrying.delay(uuid.uuid4().hex, 1),
    "activity_failed": lambda f: f.exhausting.delay(uuid.uuid4().hex),
    "sleep": lambda f: f.sleeper.delay(0.2),
    "signal_timeout": lambda f: f.signal_or_timeout.delay(0.2),
    "primitives": lambda f: f.primitives.delay("g"),
    "children": lambda f: f.parent_flow.delay(2),
    "child_failed": lambda f: f.parent_of_failing.delay(uuid.uuid4().hex),
    "child_cancelled": _child_cancelled,
    "saga": lambda f: f.trip.delay(uuid.uuid4().hex, False),
    "saga_parallel_with_failure": lambda f: f.trip.delay(f"fail-{uuid.uuid4().hex}", True),
    "continue_as_new": lambda f: f.countdown.delay(1, 0),
    "run_failed": lambda f: f.uncaught_failure.delay(uuid.uuid4().hex),
    # The fast failure lands first; the slow one lands while the run rests.
    "gather_two_failures": lambda f: f.first_failure.delay(uuid.uuid4().hex, 2.5),
    "attributes": lambda f: f.tracked.apply_async(
        args=("o-golden",), attributes={"customer": "c-42", "draft": True}
    ),
}


def _signal_scenario(flows: ModuleType) -> Any:
    handle = flows.wait_for_signals.delay(2)
    handle.signal("item", "early")
    _await_then_signal(flows, handle, "item", "late")
    return handle


SCENARIOS["signals"] = _signal_scenario


@pytest.mark.skipif(not RECORD, reason="set CX_RECORD_GOLDEN=1 to re-record")
@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_record_golden(flows: ModuleType, name: str) -> None:
    handle = SCENARIOS[name](flows)
    with contextlib.suppress(RunFailed):
        handle.result(timeout=30)
    testing.record(flows.cx, handle.run_id).save(GOLDEN / f"{name}.json")


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.stem)
def test_golden_history_replays(flows: ModuleType, path: Path) -> None:
    recorded = testing.RecordedRun.load(path)
    workflow = flows.cx.registry.workflow(recorded.workflow, recorded.version)
    testing.assert_replays(recorded, workflow)


def test_golden_histories_cover_every_event_type() -> None:
    seen = {e.type for path in golden_files() for e in testing.RecordedRun.load(path).events}
    assert seen >= (DECISION_TYPES | RESOLUTION_TYPES)


def test_a_changed_workflow_fails_its_golden_replay(flows: ModuleType) -> None:
    recorded = testing.RecordedRun.load(GOLDEN / "chain.json")

    def edited(steps: int) -> int:  # the same workflow, with its first step changed
        return flows.counted("edited", steps)

    with pytest.raises(ReplayDriftError, match="seq 1 expected activity_scheduled"):
        testing.assert_replays(recorded, edited)


def test_a_different_result_fails_the_golden_replay(flows: ModuleType) -> None:
    recorded = testing.RecordedRun.load(GOLDEN / "chain.json")

    def off_by_one(steps: int) -> int:
        return int(flows.chain.fn(steps)) + 1

    with pytest.raises(AssertionError, match="expected Completed"):
        testing.assert_replays(recorded, off_by_one)
