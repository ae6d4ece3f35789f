"""The test environment against real workers: the same workflows, the same journal.

Each workflow runs once on the session's celery worker over Postgres and once in a
``WorkflowEnvironment``; the runs must end alike, with histories of the same
events in the same order (timestamps and generated ids aside). This is what makes
a passing ``cx_env`` test mean something about production.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from itertools import groupby
from types import ModuleType
from typing import Any

import pytest

from continuum_celery.engine.events import Event
from continuum_celery.testing import WorkflowEnvironment
from tests.integration.test_core_flows import wait_until_awaiting

pytestmark = pytest.mark.usefixtures("worker")

Start = Callable[[ModuleType, str], tuple[Any, tuple[Any, ...]]]


def _shape(history: list[Event]) -> list[tuple[str, str | None]]:
    """Types and command ids in order, except that a run of events of one type is
    compared as a set: parallel activities on real workers finish in any order."""
    shape: list[tuple[str, str | None]] = []
    for _, group in groupby(history, key=lambda e: e.type):
        shape += sorted((e.type, e.command_id) for e in group)
    return shape


CASES: dict[str, Start] = {
    "chain": lambda f, key: (f.chain, (4,)),
    "fan_out": lambda f, key: (f.fan_out, (3,)),
    "retrying": lambda f, key: (f.retrying, (key, 2)),
    "exhausting": lambda f, key: (f.exhausting, (key,)),
    "signal_or_timeout": lambda f, key: (f.signal_or_timeout, (0.3,)),
    "sleeper": lambda f, key: (f.sleeper, (0.3,)),
    "parent_flow": lambda f, key: (f.parent_flow, (2,)),
    "countdown": lambda f, key: (f.countdown, (3, 0)),
    "trip": lambda f, key: (f.trip, (f"fail-{key}", False)),
    "checkout": lambda f, key: (f.checkout, (key,)),
}


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as error:
        return type(error).__name__, str(error).split(":", 1)[-1]


UNSTABLE = {"checkout": "its result names the process and time", "sleeper": "wall time",
            "parent_flow": "child run ids derive from the parent's own id"}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_run_in_the_environment_is_a_run_on_a_worker(flows: ModuleType, case: str) -> None:
    """Keys differ between the two runs (activities count calls by key)."""
    real_key, env_key = f"real-{uuid.uuid4().hex}", f"env-{uuid.uuid4().hex}"
    wf, args = CASES[case](flows, real_key)
    real = wf.delay(*args)
    real_outcome = _outcome(lambda: real.result(timeout=60))
    env = WorkflowEnvironment(flows.cx)
    wf, args = CASES[case](flows, env_key)
    handle = env.start(wf, *args)
    env_outcome = _outcome(handle.result)
    assert env_outcome[0] == real_outcome[0]
    if case not in UNSTABLE:
        assert repr(env_outcome).replace(env_key, "K") == repr(real_outcome).replace(real_key, "K")
    assert _shape(handle.history()) == _shape(real.history())


def test_a_cancelled_child_in_both(flows: ModuleType) -> None:
    real = flows.parent_of_waiter.delay()
    wait_until_awaiting_child(flows, real.run_id)
    real.cancel("stop")
    env = WorkflowEnvironment(flows.cx)
    handle = env.start(flows.parent_of_waiter)
    handle.cancel("stop")
    with pytest.raises(Exception) as env_error:
        handle.result()
    with pytest.raises(Exception) as real_error:
        real.result(timeout=60)
    assert type(env_error.value) is type(real_error.value)
    # The cancel reaches parent and child at once; on real workers the child's end
    # lands in the parent's history only if it beats the parent's own replay.
    raced = ("child_cancelled", "child:tests.integration.apps.flows.waiting_child:0")
    assert _shape(handle.history()) == [e for e in _shape(real.history()) if e != raced]


def wait_until_awaiting_child(flows: ModuleType, run_id: str) -> None:
    parent = flows.cx.run(run_id)
    child_id, deadline = None, time.monotonic() + 15
    while child_id is None:
        assert time.monotonic() < deadline, "the parent never started its child"
        child_id = next((e.data["child_run_id"] for e in parent.history()
                         if e.type == "child_started"), None)  # fmt: skip
    wait_until_awaiting(flows.cx.run(child_id), "never")


def test_signals_sent_early_and_carried_across_continue_as_new(flows: ModuleType) -> None:
    real = flows.relay.delay(3, [])
    env = WorkflowEnvironment(flows.cx)
    handle = env.start(flows.relay, 3, [])
    for n in range(3):
        real.signal("baton", n)
        handle.signal("baton", n)
    assert handle.result() == real.result(timeout=60) == [0, 1, 2]
    assert _shape(handle.history()) == _shape(real.history())


def test_terminate_in_both(flows: ModuleType) -> None:
    real = flows.parent_of_waiter.delay()
    wait_until_awaiting_child(flows, real.run_id)
    real.terminate("enough")
    env = WorkflowEnvironment(flows.cx)
    handle = env.start(flows.parent_of_waiter)
    handle.terminate("enough")
    assert handle.state == real.state == "terminated"
    assert _shape(handle.history()) == _shape(real.history())
