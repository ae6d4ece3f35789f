"""A resident instance decides exactly what a replay from the top decides, every step.

Random workflows over every effect, and the recorded golden runs, are driven one
decision at a time through the cache; each decision is compared with a from-the-top
replay of the same history, and the cache must have replayed from the top only once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from continuum_celery.definitions import Registry
from continuum_celery.engine.commands import Completed, Continued, Decision, Failed, Suspended
from continuum_celery.engine.events import DECISION_TYPES, Event
from continuum_celery.engine.replay import replay
from continuum_celery.journal.records import Lease
from continuum_celery.runtime.advance import Advancer
from continuum_celery.runtime.stamping import stamp_versions
from continuum_celery.testing import RecordedRun
from tests.unit.driver import FakeLive, json_copy
from tests.unit.lockstep import endings, lockstep, ops

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FLOWS = "tests.integration.apps.flows"


@settings(max_examples=200, deadline=None)
@given(program=st.lists(ops, max_size=10), ending=endings, seed=st.integers(0, 2**16))
def test_random_workflows_decide_as_replay_at_every_step(
    program: list[Any], ending: str, seed: int
) -> None:
    driver = lockstep(program, ending, seed)

    assert isinstance(driver.outcome, Completed | Failed | Continued)
    assert driver.cache.builds == 1, "every later step resumed the live instance"
    assert len(driver.cache) == 0, "an ended run leaves no instance behind"


# --- golden histories, through Advancer.decide ------------------------------------------


@pytest.fixture(scope="module")
def flows() -> Iterator[ModuleType]:
    """The integration app, imported without its servers (replay needs neither).

    Its workflow and activity names follow the module name, so it is imported under
    its own; if this session imported it first, it is put back as it was.
    """
    import importlib
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


def _stamped(advancer: Advancer, lease: Lease, decision: Decision) -> Decision:
    stamp_versions(advancer.registry, lease, decision)
    return decision


def _reference(advancer: Advancer, lease: Lease, fn: Any, live: FakeLive) -> Decision:
    """What the advancer decided before resident instances: replay, then stamp."""
    info = advancer._info(lease)
    decision = replay(fn, lease.args, lease.kwargs, lease.history, info, live)
    return _stamped(advancer, lease, decision)


def _rerun(recorded: RecordedRun, registry: Registry) -> tuple[Advancer, list[Decision]]:
    """Drive the recorded run afresh: our decisions, its resolutions in their order."""
    advancer = Advancer(None, registry, None, FakeLive(), "test")  # type: ignore[arg-type]
    twin = FakeLive()
    fn = registry.workflow(recorded.workflow, recorded.version).fn
    lease = Lease(recorded.run_id, 1, recorded.workflow, recorded.version, "default",
                  recorded.args, recorded.kwargs, {}, None, [])  # fmt: skip
    resolutions = iter(_batches(recorded.events))
    decisions: list[Decision] = []
    for _ in range(len(recorded.events) + 1):
        decision = advancer.decide(lease)
        assert decision is not None
        assert decision == _reference(advancer, lease, fn, twin), f"at seq {lease.last_seq}"
        decisions.append(decision)
        if not isinstance(decision.outcome, Suspended):
            break
        for command in decision.commands:
            _append(lease, command.type, command.command_id, command.data)
        for event in next(resolutions, []):
            _append(lease, event.type, event.command_id, event.data)
    return advancer, decisions


def _batches(events: list[Event]) -> list[list[Event]]:
    """The resolutions the recorded run saw after each batch of its decisions."""
    batches: list[list[Event]] = []
    for event in events:
        if event.type in DECISION_TYPES:
            if not batches or batches[-1]:
                batches.append([])
        elif batches:
            batches[-1].append(event)
    return batches


def _append(lease: Lease, type_: str, command_id: str | None, data: dict[str, Any]) -> None:
    lease.history.append(Event(lease.last_seq + 1, type_, command_id, json_copy(data)))


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_runs_decide_as_replay_at_every_step(flows: ModuleType, path: Path) -> None:
    recorded = RecordedRun.load(path)
    advancer, decisions = _rerun(recorded, flows.cx.registry)

    outcome = decisions[-1].outcome
    assert type(outcome).__name__.lower() == recorded.state, outcome
    assert advancer.residents.builds == 1
    assert len(advancer.residents) == 0
