"""Fork preview: which steps a fork at a seq reuses and which run again; run ids with "/"."""

from __future__ import annotations

import uuid
from types import ModuleType
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.integration.checks import wait_for
from tests.integration.ui.conftest import OPERATOR_TOKEN, PREFIX, VIEWER_TOKEN, basic, bearer
from tests.integration.ui.helpers import batch, retried

pytestmark = pytest.mark.usefixtures("worker")
API = PREFIX + "/api"
VIEWER, OPERATOR = bearer(VIEWER_TOKEN), bearer(OPERATOR_TOKEN)


def test_the_api_previews_a_fork_at_a_seq(client: TestClient, flows: ModuleType) -> None:
    handle = flows.cx.start(flows.chain, 3, attributes={"batch": batch()})
    handle.result(timeout=30)
    history = flows.cx.history(handle.run_id)
    second = [e for e in history if e.type == "activity_scheduled"][1]
    url = f"{API}/runs/{handle.run_id}/fork-preview"
    found = client.get(url, params={"at_seq": second.seq}, headers=VIEWER).json()
    assert [s["command_id"] for s in found["reused"]] == [history[1].command_id]
    assert [s["scheduled_seq"] for s in found["rerun"]] == [
        e.seq for e in history if e.type == "activity_scheduled"][1:]  # fmt: skip
    assert found["kept_events"] == second.seq - 1 and found["refusal"] is None
    everything = client.get(url, headers=VIEWER).json()  # a completed run: after everything
    assert everything["at_seq"] == history[-1].seq + 1 and everything["rerun"] == []
    too_far = client.get(url, params={"at_seq": 10_000}, headers=VIEWER)
    assert too_far.status_code == 400 and "at_seq" in too_far.json()["error"]
    assert client.get(f"{API}/runs/nope/fork-preview", headers=VIEWER).status_code == 404


def test_the_run_page_shows_the_preview_for_the_chosen_seq(
    client: TestClient, flows: ModuleType
) -> None:
    handle = retried(flows, batch())
    history = flows.cx.history(handle.run_id)
    page = client.get(f"{PREFIX}/runs/{handle.run_id}", params={"fork_at": "2"},
                      headers=basic("olive")).text  # fmt: skip
    assert 'id="fork-preview" data-at-seq="2"' in page
    assert 'class="rerun"' in page and "runs again" in page
    assert '<option value="2" selected>' in page
    later = client.get(f"{PREFIX}/runs/{handle.run_id}", headers=basic("olive"),
                       params={"fork_at": str(history[-1].seq + 1)}).text  # fmt: skip
    assert 'class="reused"' in later and "reused" in later
    bad = client.get(f"{PREFIX}/runs/{handle.run_id}", params={"fork_at": "x"}, headers=VIEWER)
    assert bad.status_code == 400


def test_a_run_id_with_a_slash_is_reachable(client: TestClient, flows: ModuleType) -> None:
    run_id = f"orders/{uuid.uuid4().hex[:8]}/ship"
    tag = batch()
    handle = flows.cx.start(flows.wait_for_signals, 1, run_id=run_id, attributes={"batch": tag})
    wait_for(lambda: bool(flows.cx.history(handle.run_id)))
    for path in (run_id, quote(run_id, safe="")):
        assert client.get(f"{API}/runs/{path}", headers=VIEWER).json()["run"]["run_id"] == run_id
        assert client.get(f"{API}/runs/{path}/history", headers=VIEWER).status_code == 200
        assert client.get(f"{API}/runs/{path}/mark", headers=VIEWER).json()["run_id"] == run_id
        page = client.get(f"{PREFIX}/runs/{path}", headers=VIEWER)
        assert page.status_code == 200 and f'id="run-id">{run_id}<' in page.text
    answer = client.post(f"{API}/runs/{quote(run_id, safe='')}/signal", headers=OPERATOR,
                         json={"name": "item", "payload": 1, "reason": "slash"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert handle.result(timeout=20) == [1]
    index = client.get(
        f"{PREFIX}/", params={"q": f'attributes.batch = "{tag}"'}, headers=VIEWER
    ).text
    assert f'/runs/{quote(run_id, safe="")}"' in index
