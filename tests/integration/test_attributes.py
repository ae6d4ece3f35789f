"""workflow.upsert_attributes on a real worker: the run row changes with the journal."""

from __future__ import annotations

import uuid
from types import ModuleType

import pytest

from continuum_celery import testing
from tests.integration.checks import types

pytestmark = pytest.mark.usefixtures("worker")


def test_upserted_attributes_are_stored_and_queryable(flows: ModuleType) -> None:
    order = f"o-{uuid.uuid4().hex}"
    handle = flows.tracked.apply_async(
        args=(order,), attributes={"customer": "c-42", "draft": True}
    )
    result = handle.result(timeout=30)

    expected = {"customer": "c-42", "order": order, "stage": "shipped", "items": [1, 2]}
    assert result == {"total": 3, "seen": [{"customer": "c-42", "draft": True}, expected]}
    assert flows.cx.get_run(handle.run_id).attributes == expected
    found = flows.cx.list_runs(f'attributes.stage = "shipped" AND attributes.order = "{order}"')
    assert [run.run_id for run in found.runs] == [handle.run_id]
    paid = flows.cx.list_runs(f'attributes.stage = "paid" AND attributes.order = "{order}"')
    assert paid.runs == []
    assert types(handle.history()).count("attributes_upserted") == 2


def test_a_finished_run_with_upserts_replays_from_its_journal(flows: ModuleType) -> None:
    handle = flows.tracked.apply_async(args=("o-replay",), attributes={"customer": "c-7"})
    handle.result(timeout=30)
    recorded = testing.record(flows.cx, handle.run_id)
    testing.assert_replays(recorded, flows.tracked)


def test_a_successor_starts_with_the_attributes_its_predecessor_set(flows: ModuleType) -> None:
    handle = flows.tracked_rounds.apply_async(args=(2,), attributes={"customer": "c-9"})
    expected = {"customer": "c-9", "round-2": True, "round-1": True}
    assert handle.result(timeout=30) == expected
    assert flows.cx.get_run(handle.run_id).attributes == {"customer": "c-9", "round-2": True}
