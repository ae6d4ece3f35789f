"""``cx.describe``: a run with what it waits on and the runs around it, on real workers."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from continuum_celery import RunNotFound
from tests.integration.checks import types, wait_for

pytestmark = pytest.mark.usefixtures("worker")


def has(flows: ModuleType, run_id: str, event: str) -> bool:
    return event in types(flows.cx.history(run_id))


def test_a_run_in_an_activity_names_its_claim_holder_and_heartbeat(flows: ModuleType) -> None:
    key = uuid.uuid4().hex
    handle = flows.long_running.delay(key, 3.0)
    wait_for(lambda: any(t.heartbeat_at for t in flows.cx.activity_tasks(handle.run_id)))
    described = flows.cx.describe(handle.run_id)
    [task] = described.activities
    assert (task.activity, task.attempt, task.state) == (flows.progress.name, 1, "claimed")
    host, pid = (task.claimed_by or "").rsplit(":", 1)
    assert host == socket.gethostname() and int(pid) > 0
    assert task.claim_expires_at is not None and task.claim_expires_at > datetime.now(UTC)
    assert task.heartbeat_details["beats"] >= 0
    assert (task.next_retry_at, task.last_error) == (None, None)
    assert described.run.run_id == handle.run_id and described.run.state == "running"
    assert described.chain == [handle.run_id]
    handle.result(timeout=20)
    assert flows.cx.describe(handle.run_id).activities == []


def test_a_task_waiting_out_a_backoff_shows_its_next_retry_and_last_error(
    flows: ModuleType,
) -> None:
    key = uuid.uuid4().hex
    handle = flows.patient.delay(key)
    wait_for(lambda: flows.calls(f"{key}-backs-off") == 1)
    wait_for(lambda: flows.cx.activity_tasks(handle.run_id)[0].attempt == 2)
    [task] = flows.cx.describe(handle.run_id).activities
    assert (task.state, task.attempt, task.claimed_by) == ("ready", 2, None)
    assert task.next_retry_at is not None
    assert task.next_retry_at > datetime.now(UTC) + timedelta(minutes=50)
    assert "the first attempt always fails" in (task.last_error or "")
    flows.cx.terminate(handle.run_id, "done looking")


def test_a_sleeping_run_shows_its_timer(flows: ModuleType) -> None:
    handle = flows.sleeper.delay(60.0)
    wait_for(lambda: has(flows, handle.run_id, "timer_started"))
    described = flows.cx.describe(handle.run_id)
    [timer] = described.timers
    assert timer.kind == "timer" and timer.fires_at is not None
    assert timedelta(seconds=50) < timer.fires_at - datetime.now(UTC) <= timedelta(seconds=60)
    assert described.awaited_signals == [] and described.activities == []
    flows.cx.terminate(handle.run_id, "done looking")


def test_a_run_awaiting_a_signal_shows_it_and_a_buffered_one_of_another_name(
    flows: ModuleType,
) -> None:
    handle = flows.signal_or_timeout.delay(60.0)
    wait_for(lambda: has(flows, handle.run_id, "signal_awaited"))
    flows.cx.signal(handle.run_id, "other", {"n": 1})
    described = flows.cx.describe(handle.run_id)
    [awaited] = described.awaited_signals
    assert (awaited.kind, awaited.name) == ("signal", "approve")
    assert described.timers == [awaited], "its timeout is a fire time too"
    [buffered] = described.buffered_signals
    assert (buffered.name, buffered.payload) == ("other", {"n": 1})
    flows.cx.terminate(handle.run_id, "done looking")


def test_a_parent_lists_its_child_and_the_child_names_its_parent(flows: ModuleType) -> None:
    handle = flows.parent_of_waiter.delay()
    wait_for(lambda: len(flows.cx.describe(handle.run_id).children) == 1)
    [child] = flows.cx.describe(handle.run_id).children
    assert (child.workflow, child.state) == (flows.waiting_child.name, "running")
    parent = flows.cx.describe(child.run_id).parent
    assert parent is not None
    assert (parent.run_id, parent.workflow) == (handle.run_id, flows.parent_of_waiter.name)
    flows.cx.terminate(handle.run_id, "done looking")


def test_every_run_of_a_continue_as_new_chain_names_the_whole_chain(flows: ModuleType) -> None:
    handle = flows.countdown.delay(3, 0)
    assert handle.result(timeout=20) == 6
    chain = flows.cx.describe(handle.run_id).chain
    assert len(chain) == 4 and chain[0] == handle.run_id
    for run_id in chain:
        assert flows.cx.describe(run_id).chain == chain
    assert flows.cx.get_run(chain[-1]).next_run_id is None
    assert flows.cx.get_run(chain[1]).continued_from == chain[0]


def test_a_fork_and_its_original_name_each_other(flows: ModuleType, state_dir: Path) -> None:
    key = uuid.uuid4().hex
    failed = flows.fixable.delay(key)
    wait_for(lambda: flows.cx.get_run(failed.run_id).state == "failed")
    (state_dir / f"fixed-{key}").touch()
    fork = flows.cx.fork(failed.run_id, at_seq=1)
    fork.result(timeout=20)
    source = flows.cx.describe(fork.run_id).forked_from
    assert source is not None
    assert (source.run_id, source.state, source.fork_seq) == (failed.run_id, "failed", 1)
    [child] = flows.cx.describe(failed.run_id).forks
    assert (child.run_id, child.state, child.fork_seq) == (fork.run_id, "completed", 1)


def test_describing_an_unknown_run_raises_run_not_found(flows: ModuleType) -> None:
    with pytest.raises(RunNotFound):
        flows.cx.describe(f"no-such-run-{uuid.uuid4().hex}")
