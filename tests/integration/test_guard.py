"""The determinism guard on a real worker: a violation holds the run, loudly."""

from __future__ import annotations

import uuid
from types import ModuleType

import pytest

from continuum_celery import ResultTimeout
from tests.integration.checks import assert_sound, types, wait_for
from tests.integration.harness import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def test_random_in_workflow_code_blocks_the_run_with_the_guards_message(
    flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.rolls_dice.delay(uuid.uuid4().hex)
    wait_for(lambda: handle.state == "blocked", what="the run to be blocked")
    run = flows.cx.get_run(handle.run_id)
    assert run.error.startswith(
        "NondeterminismError: random.random() called from workflow code at flows.py:"
    )
    assert run.error.endswith("use workflow.random() instead")
    history = handle.history()
    assert types(history) == ["activity_scheduled", "activity_completed"]  # nothing after
    assert_sound(history)
    with pytest.raises(ResultTimeout, match="is blocked"):
        handle.result(timeout=1)
    assert f"run {handle.run_id} (tests.integration.apps.flows.rolls_dice) blocked" in worker.log()


def test_a_workflow_with_the_guard_off_may_call_random(flows: ModuleType) -> None:
    handle = flows.rolls_dice_unguarded.delay(uuid.uuid4().hex)
    assert 3 <= handle.result(timeout=30) < 4
