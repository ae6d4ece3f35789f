"""Business run ids, starting by name without the code, and reusing a run id."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import text

from continuum_celery import Continuum, ContinuumError, RunAlreadyExists, RunCancelled
from tests.integration.checks import assert_sound, types, wait_for

pytestmark = pytest.mark.usefixtures("worker")

FLOWS = "tests.integration.apps.flows"
TABLES = ("cx_runs", "cx_events", "cx_tasks", "cx_signals", "cx_start_keys", "cx_waits")
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def business_ids(label: str) -> list[str]:
    """An ASCII, a unicode and a 200-character id, unique to the calling test."""
    tag = secrets.token_hex(4)
    return [f"order-{tag}-{label}", f"заказ №{tag} ✓ {label}", f"{tag}-{label}-".ljust(200, "z")]


@pytest.fixture(scope="module")
def bare(worker_env: dict[str, str]) -> Iterator[Continuum]:
    """A client process that imports no workflow code: a new app, nothing declared,
    on the session's database and broker (the session worker has the code)."""
    app = Celery("web-tier", broker=worker_env["CELERY_BROKER_URL"], set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])
    cx = Continuum(app, database_url=worker_env["CONTINUUM_DATABASE_URL"])
    assert not cx.registry.workflows
    yield cx
    cx.db.dispose()


def row_counts(cx: Continuum) -> dict[str, int]:
    with cx.db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608


# --- starting by name -----------------------------------------------------------


def test_a_process_without_the_code_starts_a_run_by_name(bare: Continuum) -> None:
    handle = bare.start(f"{FLOWS}.chain", 4, run_id=f"order-{secrets.token_hex(4)}")
    assert handle.result(timeout=30) == 6
    run = bare.get_run(handle.run_id)
    assert run.workflow == f"{FLOWS}.chain" and run.args == [4]
    assert run.version == 1, "the worker pinned the newest version it has"
    assert_sound(handle.history())


def test_a_run_started_by_name_waits_for_a_worker_to_pick_its_version(bare: Continuum) -> None:
    handle = bare.start(f"{FLOWS}.wait_for_signals", count=1, eta=FAR)
    assert bare.get_run(handle.run_id).version == 0, "no version chosen where the code is absent"
    assert bare.get_run(handle.run_id).kwargs == {"count": 1}
    handle.cancel()


def test_start_by_name_in_a_process_with_the_code(flows: ModuleType) -> None:
    handle = flows.cx.start(f"{FLOWS}.chain", steps=3)
    assert flows.cx.get_run(handle.run_id).version == 1
    assert handle.result(timeout=30) == 3
    assert flows.cx.start(flows.chain, 2).result(timeout=30) == 1, "a workflow object works too"


def test_a_name_no_worker_has_is_blocked_untouched(bare: Continuum, flows: ModuleType) -> None:
    handle = bare.start("nobody.has.this", 1)
    time.sleep(1.5)  # the worker has been offered it (first wakeup and upkeep)
    run = bare.get_run(handle.run_id)
    assert (run.state, run.version, handle.history()) == ("blocked", 0, [])
    assert "nobody.has.this" in (run.error or "")
    handle.terminate("no worker will ever have it")


# --- business ids, end to end ----------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2], ids=["ascii", "unicode", "200-chars"])
def test_signals_history_and_result_by_business_id(flows: ModuleType, index: int) -> None:
    run_id = business_ids("signals")[index]
    handle = flows.wait_for_signals.apply_async(args=(2,), run_id=run_id)
    assert handle.run_id == run_id
    flows.cx.signal(run_id, "item", "first")
    flows.cx.run(run_id).signal("item", "second")
    assert handle.result(timeout=30) == ["first", "second"]
    assert flows.cx.get_run(run_id).run_id == run_id
    history = flows.cx.history(run_id)
    assert_sound(history)
    assert types(history).count("signal_received") == 2


@pytest.mark.parametrize("index", [0, 1, 2], ids=["ascii", "unicode", "200-chars"])
def test_cancel_by_business_id_reaches_the_child(flows: ModuleType, index: int) -> None:
    run_id = business_ids("cancel")[index]
    handle = flows.parent_of_waiter.apply_async(run_id=run_id)
    wait_for(lambda: "child_started" in types(handle.history()), what="the child to start")
    child_id = handle.history()[0].data["child_run_id"]
    assert flows.cx.get_run(child_id).parent_run_id == run_id
    flows.cx.cancel(run_id)
    with pytest.raises(RunCancelled):
        handle.result(timeout=10)
    with pytest.raises(RunCancelled):  # the child got its own request
        flows.cx.run(child_id).result(timeout=10)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["ascii", "unicode", "200-chars"])
def test_children_and_continue_as_new_under_business_ids(flows: ModuleType, index: int) -> None:
    parent = flows.parent_flow.apply_async(args=(2,), run_id=business_ids("parent")[index])
    assert parent.result(timeout=30)["results"] == [0, 2]
    first = flows.countdown.apply_async(args=(3, 0), run_id=business_ids("chain")[index])
    assert first.result(timeout=30) == 6
    successor = flows.cx.get_run(flows.cx.get_run(first.run_id).next_run_id)
    assert successor.continued_from == first.run_id
    relay = flows.relay.apply_async(args=(2, []), run_id=business_ids("relay")[index])
    relay.signal("baton", 1)
    wait_for(lambda: flows.cx.get_run(relay.run_id).state == "continued", what="handover")
    flows.cx.signal(relay.run_id, "baton", 2)  # lands on the tip of the chain
    assert relay.result(timeout=30) == [1, 2]


def test_a_uuid_in_another_spelling_finds_its_run(flows: ModuleType) -> None:
    handle = flows.chain.apply_async(args=(2,), run_id=str(uuid.uuid4()).upper())
    assert handle.run_id == handle.run_id.lower()
    assert flows.cx.get_run(handle.run_id.upper().replace("-", "")).run_id == handle.run_id
    braced = flows.cx.run(f"{{{handle.run_id}}}")
    assert braced.run_id == handle.run_id
    assert braced.result(timeout=30) == 1


# --- bad ids ------------------------------------------------------------------------

BAD_IDS = [("", ValueError), ("x" * 201, ValueError), ("a\x00b", ValueError),
           ("two\nlines", ValueError), ("bell\x07", ValueError), (42, TypeError),
           (b"order-42", TypeError)]  # fmt: skip
BAD_NAMES = ["empty", "201-chars", "nul", "newline", "control", "int", "bytes"]


@pytest.mark.parametrize(("bad", "error"), BAD_IDS, ids=BAD_NAMES)
def test_bad_run_ids_are_refused_and_nothing_is_written(
    flows: ModuleType, bad: Any, error: type[Exception]
) -> None:
    before = row_counts(flows.cx)
    starts = [
        lambda: flows.chain.apply_async(args=(1,), run_id=bad),
        lambda: flows.cx.start(f"{FLOWS}.chain", 1, run_id=bad),
        lambda: flows.cx.start("nobody.has.this", run_id=bad),
    ]
    cx = flows.cx
    lookups = [cx.get_run, cx.run, cx.history, cx.cancel, cx.activity_tasks,
               lambda run_id: cx.signal(run_id, "item", 1)]  # fmt: skip
    for call in [*starts, *[lambda lookup=lookup: lookup(bad) for lookup in lookups]]:
        with pytest.raises(error, match="run_id must be"):
            call()
    assert row_counts(flows.cx) == before, "a refused run id wrote something"


# --- reusing a run id -----------------------------------------------------------------


def test_the_same_id_and_input_returns_the_run(flows: ModuleType, bare: Continuum) -> None:
    run_id = business_ids("again")[0]
    first = flows.wait_for_signals.apply_async(kwargs={"count": 1}, run_id=run_id, eta=FAR)
    before = row_counts(flows.cx)
    again = bare.start(f"{FLOWS}.wait_for_signals", count=1, run_id=run_id)
    assert again.run_id == first.run_id == run_id
    assert flows.wait_for_signals.apply_async(kwargs={"count": 1}, run_id=run_id).run_id == run_id
    assert row_counts(flows.cx) == before
    first.cancel()


def test_the_same_id_with_other_input_raises_and_writes_nothing(
    flows: ModuleType, bare: Continuum
) -> None:
    run_id = business_ids("taken")[0]
    flows.chain.apply_async(args=(3,), run_id=run_id, eta=FAR)
    before = row_counts(flows.cx)
    others = [
        lambda: flows.chain.apply_async(args=(4,), run_id=run_id),
        lambda: flows.chain.apply_async(kwargs={"steps": 3}, run_id=run_id),
        lambda: flows.chain.apply_async(args=(3.5,), run_id=run_id),
        lambda: flows.chain.apply_async(args=(4,), run_id=run_id, idempotency_key="new-key"),
        lambda: bare.start(f"{FLOWS}.chain", "3", run_id=run_id),
    ]
    for start in others:
        with pytest.raises(RunAlreadyExists, match="other arguments") as raised:
            start()
        assert isinstance(raised.value, ContinuumError) and raised.value.run_id == run_id
    with pytest.raises(RunAlreadyExists, match="another workflow"):
        flows.fan_out.apply_async(args=(3,), run_id=run_id)
    with pytest.raises(RunAlreadyExists, match="another workflow"):
        bare.start("nobody.has.this", 3, run_id=run_id)
    assert row_counts(flows.cx) == before, "a refused start wrote something"
    assert flows.cx.get_run(run_id).args == [3]
    flows.cx.cancel(run_id)


def test_input_is_compared_as_the_journal_stores_it(flows: ModuleType) -> None:
    run_id = business_ids("jsonb")[0]
    first = flows.cx.start(f"{FLOWS}.relay", links=1, received=[{"a": 1, "b": [2]}],
                           run_id=run_id, eta=FAR)  # fmt: skip
    again = flows.cx.start(f"{FLOWS}.relay", received=[{"b": [2], "a": 1}], links=1,
                           run_id=run_id)  # fmt: skip
    assert again.run_id == first.run_id
    first.cancel()


def test_the_command_line_finds_runs_by_business_id(
    flows: ModuleType, worker_env: dict[str, str]
) -> None:
    run_id = business_ids("cli")[1]
    flows.chain.apply_async(args=(2,), run_id=run_id).result(timeout=30)
    cli = [sys.executable, "-m", "continuum_celery.cli",
           "--database-url", worker_env["CONTINUUM_DATABASE_URL"]]  # fmt: skip
    shown = subprocess.run([*cli, "show", run_id], capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout)["run_id"] == run_id
    history = subprocess.run([*cli, "history", run_id], capture_output=True, text=True, check=True)
    assert history.stdout.count("activity_completed") == 2
    refused = subprocess.run([*cli, "show", "tab\tid"], capture_output=True, text=True)
    assert refused.returncode == 2 and "printable" in refused.stderr  # a user error
