"""``testing.Replayer``: recorded runs replayed against today's code, drifts listed.

The recordings are the golden histories (real runs of real workers); the "new
code" is the integration app's workflows, or an edited copy registered under the
same name, as a deploy would bring it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from continuum_celery import UnknownWorkflow, workflow
from continuum_celery.definitions import Workflow
from continuum_celery.engine.events import Event
from continuum_celery.testing import RecordedRun, Replayer

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FLOWS = "tests.integration.apps.flows"
CHAIN = f"{FLOWS}.chain"
ADD = f"activity:{FLOWS}.add"


@pytest.fixture(scope="module")
def flows() -> Iterator[ModuleType]:
    """The integration app, imported without its servers (replay needs neither)."""
    import importlib
    import os
    import sys

    already = sys.modules.get(FLOWS)
    if already is not None:
        yield already
        return
    saved = os.environ.get("CONTINUUM_DATABASE_URL")
    os.environ.setdefault("CONTINUUM_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/unused")
    try:
        yield importlib.import_module(FLOWS)
    finally:
        sys.modules.pop(FLOWS, None)
        if saved is None:
            os.environ.pop("CONTINUUM_DATABASE_URL", None)


def golden(name: str) -> RecordedRun:
    return RecordedRun.load(GOLDEN / f"{name}.json")


def as_chain(fn: Callable[..., Any]) -> Replayer:
    """``fn`` deployed as the chain workflow's code."""
    return Replayer([Workflow(fn, CHAIN, lambda *a, **k: None)])


def in_flight(recorded: RecordedRun, events: int) -> RecordedRun:
    """The run as it stood after its first ``events`` events."""
    return dataclasses.replace(recorded, state="running", events=recorded.events[:events])


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_every_golden_run_replays_clean_against_todays_code(flows: ModuleType, path: Path) -> None:
    result = Replayer(flows.cx).replay(RecordedRun.load(path))

    assert result.ok, result.drift
    assert result.skipped is None


def test_a_recorded_file_as_json_replays_too(flows: ModuleType) -> None:
    result = Replayer(flows.cx).replay(golden("saga").to_json())

    assert result.ok and result.workflow == f"{FLOWS}.trip"


def test_a_different_activity_at_step_two_is_a_drift_at_its_seq(flows: ModuleType) -> None:
    def edited(steps: int) -> int:
        total = flows.add(0, 0)
        return flows.counted("edited", total)  # step 2 calls another activity

    drift = as_chain(edited).replay(golden("chain")).drift

    assert drift is not None
    assert (drift.run_id, drift.seq) == (golden("chain").run_id, 3)
    assert drift.expected == f"activity_scheduled {ADD}:1"
    assert drift.actual == f"activity_scheduled activity:{FLOWS}.counted:0"
    assert str(drift).endswith(f"seq 3: expected activity_scheduled {ADD}:1, "
                               f"got activity_scheduled activity:{FLOWS}.counted:0")  # fmt: skip


def test_a_step_dropped_from_the_end_is_a_drift(flows: ModuleType) -> None:
    def shorter(steps: int) -> int:
        return sum(flows.add(0, i) for i in range(steps - 1))

    drift = as_chain(shorter).replay(golden("chain")).drift

    assert drift is not None and drift.seq == 5
    assert drift.expected == f"activity_scheduled {ADD}:2"
    assert drift.actual == "workflow completed"


def test_an_ended_run_must_not_ask_for_more(flows: ModuleType) -> None:
    def longer(steps: int) -> int:
        total = sum(flows.add(0, i) for i in range(steps))
        return flows.add(total, 100)

    drift = as_chain(longer).replay(golden("chain")).drift

    assert drift is not None and drift.seq == 7
    assert drift.expected == "the end of the run (completed)"
    assert drift.actual == f"activity_scheduled {ADD}:3"


def test_a_run_in_flight_may_go_on_past_its_history(flows: ModuleType) -> None:
    def longer(steps: int) -> int:
        total = sum(flows.add(0, i) for i in range(steps))
        return flows.add(total, 100)

    assert as_chain(longer).replay(in_flight(golden("chain"), 4)).ok


def test_an_ended_run_must_end_the_same_way(flows: ModuleType) -> None:
    def fails(steps: int) -> int:
        for i in range(steps):
            flows.add(0, i)
        raise RuntimeError("new check")

    drift = as_chain(fails).replay(golden("chain")).drift

    assert drift is not None and drift.seq is None
    assert (drift.expected, drift.actual) == (
        "run completed", "run failed (RuntimeError: new check)"
    )  # fmt: skip


def test_a_new_log_line_or_another_result_is_no_drift(flows: ModuleType) -> None:
    def logged(steps: int) -> int:
        total = sum(flows.add(0, i) for i in range(steps))
        workflow.logger.info("total %s", total)
        return total * 2

    assert as_chain(logged).replay(golden("chain")).ok


def test_a_nondeterministic_call_is_reported(flows: ModuleType) -> None:
    def clocked(steps: int) -> float:
        return sum(flows.add(0, i) for i in range(steps)) + time.time()

    drift = as_chain(clocked).replay(golden("chain")).drift

    assert drift is not None and drift.expected == "deterministic workflow code"
    assert "time.time()" in drift.actual


def test_missing_code_counts_only_for_runs_in_flight(flows: ModuleType) -> None:
    replayer = Replayer([flows.fan_out])
    ended = replayer.replay(golden("chain"))
    waiting = replayer.replay(in_flight(golden("chain"), 2))

    assert ended.ok and ended.skipped is not None and "no workflow named" in ended.skipped
    assert waiting.drift is not None and waiting.drift.expected == f"code for {CHAIN} v1"


def export_line(recorded: RecordedRun) -> str:
    """A run as ``continuum-celery export`` writes it (the fields it has, as JSON)."""
    run = {**recorded.to_json(), "namespace": "default", "attributes": {}, "parent_run_id": None,
           "created_at": "2026-11-30T10:00:00+00:00", "completed_at": None}  # fmt: skip
    del run["format"]
    for event in run["events"]:
        event["created_at"] = "2026-11-30T10:00:00+00:00"
    return json.dumps(run)


def test_an_export_file_is_replayed_line_by_line(flows: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    names = ["chain", "saga", "signals", "children"]
    path.write_text("\n".join(export_line(golden(name)) for name in names) + "\n\n")

    report = Replayer(flows.cx).replay_jsonl(path)
    only = Replayer(flows.cx).replay_jsonl(path, workflow=CHAIN)

    assert (report.ok, report.replayed, report.skipped) == (True, 4, 0)
    assert only.replayed == 1


def test_an_export_file_with_a_drift_lists_it(flows: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(export_line(golden("chain")) + "\n")

    report = as_chain(lambda steps: flows.counted("x", steps)).replay_jsonl(path)

    assert not report.ok and report.replayed == 1
    assert [(d.run_id, d.seq) for d in report.drifts] == [(golden("chain").run_id, 1)]


def test_a_bad_export_line_names_the_file_and_line(flows: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(export_line(golden("chain")) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"runs.jsonl:2: not JSON"):
        Replayer(flows.cx).replay_jsonl(path)
    path.write_text(json.dumps({"run_id": "r", "workflow": CHAIN}) + "\n")
    with pytest.raises(ValueError, match=r"runs.jsonl:1: missing state, args, kwargs, events"):
        Replayer(flows.cx).replay_jsonl(path)


def test_bad_input_is_refused(flows: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="a Continuum or an iterable of workflows"):
        Replayer(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes workflows, not function"):
        Replayer([lambda: None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="build it from a Continuum"):
        Replayer([flows.chain]).replay_run("r-1")
    with pytest.raises(TypeError, match="a recorded run or its JSON"):
        Replayer(flows.cx).replay([Event(1, "timer_started", "t")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed run"):
        Replayer(flows.cx).replay({**golden("chain").to_json(), "events": [{"seq": "x"}]})
    with pytest.raises(UnknownWorkflow):
        Replayer(flows.cx).replay_jsonl(tmp_path / "absent.jsonl", workflow="shop.nope")


def test_a_cancelled_run_replays_to_its_cancellation(flows: ModuleType) -> None:
    recorded = golden("chain")
    cancel = Event(4, "cancel_requested", None, {"reason": "customer asked"})
    cancelled = dataclasses.replace(recorded, state="cancelled",
                                    events=[*recorded.events[:3], cancel])  # fmt: skip

    def completes_anyway(steps: int) -> int:
        try:
            return sum(flows.add(0, i) for i in range(steps))
        except workflow.Cancelled:
            return -1

    assert Replayer(flows.cx).replay(cancelled).ok
    drift = as_chain(completes_anyway).replay(cancelled).drift
    assert drift is not None and (drift.expected, drift.actual) == (
        "run cancelled",
        "run completed",
    )
