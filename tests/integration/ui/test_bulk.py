"""Bulk jobs through the UI: dry run, job, progress, abort; roles, CSRF, switches."""

from __future__ import annotations

import re
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from continuum_celery.ui import create_app
from tests.integration.checks import wait_for
from tests.integration.ui.conftest import (
    OPERATOR_TOKEN,
    PREFIX,
    VIEWER_TOKEN,
    basic,
    bearer,
    secured,
)
from tests.integration.ui.helpers import batch, waiting

pytestmark = pytest.mark.usefixtures("worker")
API = PREFIX + "/api"
VIEWER, OPERATOR = bearer(VIEWER_TOKEN), bearer(OPERATOR_TOKEN)


def _query(tag: str) -> str:
    return f'attributes.batch = "{tag}"'


def test_a_dry_run_then_a_job_that_completes(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    handles = [waiting(flows, tag) for _ in range(3)]
    body = {"action": "cancel", "query": _query(tag), "reason": "bulk from the api"}
    preview = client.post(f"{API}/bulk/preview", json=body, headers=OPERATOR)
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 3
    assert {r["run_id"] for r in preview.json()["sample"]} == {h.run_id for h in handles}
    assert all(flows.cx.get_run(h.run_id).cancel_requested_at is None for h in handles)
    job = client.post(f"{API}/bulk", json=body, headers=OPERATOR).json()
    assert (job["total"], job["actor"], job["reason"]) == (3, "ui:token-op", "bulk from the api")
    url = f"{API}/jobs/{job['job_id']}"
    wait_for(lambda: client.get(url, headers=VIEWER).json()["state"] == "completed", timeout=20)
    done = client.get(url, headers=VIEWER).json()
    assert (done["done"], done["failed"], done["left"]) == (3, 0, 0)
    listed = client.get(f"{API}/jobs", headers=VIEWER).json()
    assert job["job_id"] in [j["job_id"] for j in listed]
    items = client.get(f"{url}/items", headers=VIEWER).json()
    assert sorted(i["run_id"] for i in items) == sorted(h.run_id for h in handles)
    wait_for(lambda: all(h.state == "cancelled" for h in handles))


def test_bulk_signal_carries_its_name_and_payload(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    handle = waiting(flows, tag)
    body = {"action": "signal", "query": _query(tag), "reason": "feed", "name": "item",
            "payload": {"n": 7}}  # fmt: skip
    assert client.post(f"{API}/bulk", json=body, headers=OPERATOR).status_code == 200
    assert handle.result(timeout=20) == [{"n": 7}]


def test_bad_bulk_requests_are_refused_and_write_nothing(
    client: TestClient, flows: ModuleType
) -> None:
    before = len(flows.cx.list_jobs(limit=1000))
    cases = [
        ({"action": "cancel", "query": "state =", "reason": "x"}, 400),
        ({"action": "explode", "query": 'state = "running"', "reason": "x"}, 400),
        ({"action": "cancel", "query": "", "reason": "x"}, 400),
        ({"action": "cancel", "query": 'state = "running"', "reason": ""}, 400),
        ({"action": "signal", "query": 'state = "running"', "reason": "x"}, 400),
    ]
    for body, status in cases:
        answer = client.post(f"{API}/bulk", json=body, headers=OPERATOR)
        assert answer.status_code in (status, 422), (body, answer.text)
    bad = {"action": "cancel", "query": "state =", "reason": "x"}
    position = client.post(f"{API}/bulk/preview", headers=OPERATOR, json=bad)
    assert position.json()["position"] == len("state =")
    assert len(flows.cx.list_jobs(limit=1000)) == before
    assert client.get(f"{API}/jobs/not-a-uuid", headers=VIEWER).status_code == 400
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"{API}/jobs/{missing}", headers=VIEWER).status_code == 404


def test_bulk_needs_an_operator_the_csrf_token_and_its_switches(
    client: TestClient, flows: ModuleType
) -> None:
    tag = batch()
    handle = waiting(flows, tag)
    body = {"action": "terminate", "query": _query(tag), "reason": "no"}
    assert client.post(f"{API}/bulk", json=body, headers=VIEWER).status_code == 403
    assert client.post(f"{API}/bulk", json=body, headers=basic("olive")).status_code == 403
    for off in ("bulk", "terminate"):
        app = create_app(flows.cx, prefix=PREFIX, settings=secured(), disabled_actions=(off,))
        with TestClient(app) as c:
            answer = c.post(f"{API}/bulk", json=body, headers=OPERATOR)
            assert answer.status_code == 403 and "switched off" in answer.json()["error"]
            page = c.get(f"{PREFIX}/", params={"q": _query(tag)}, headers=OPERATOR).text
            assert ('id="bulk-dialog"' in page) is (off != "bulk")
    assert flows.cx.get_run(handle.run_id).state == "running"
    flows.cx.terminate(handle.run_id, "test over")


def test_a_job_is_aborted_from_the_api(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    handle = waiting(flows, tag)
    job = flows.cx.bulk("cancel", _query(tag), reason="to abort", dry_run=False)
    flows.cx.abort_job(job.job_id, reason="set up")  # ended: aborting again changes nothing
    answer = client.post(f"{API}/jobs/{job.job_id}/abort", json={"reason": "again"},
                         headers=OPERATOR)  # fmt: skip
    assert answer.status_code == 200 and answer.json()["state"] == "aborted"
    refused = client.post(f"{API}/jobs/{job.job_id}/abort", json={"reason": "x"}, headers=VIEWER)
    assert refused.status_code == 403
    flows.cx.terminate(handle.run_id, "test over")


def test_the_dialog_pages_preview_confirm_and_show_the_job(
    client: TestClient, flows: ModuleType
) -> None:
    tag = batch()
    handles = [waiting(flows, tag) for _ in range(2)]
    olive = basic("olive")
    index = client.get(f"{PREFIX}/", params={"q": _query(tag)}, headers=olive)
    assert 'id="bulk-dialog"' in index.text
    csrf = client.cookies.get("cx_csrf") or ""
    form = {"csrf": csrf, "query": _query(tag), "action": "terminate", "reason": "by page"}
    preview = client.post(f"{PREFIX}/bulk/preview", data=form, headers=olive)
    assert preview.status_code == 200
    assert re.search(r'id="bulk-count">2<', preview.text)
    assert all(flows.cx.get_run(h.run_id).state == "running" for h in handles)
    created = client.post(f"{PREFIX}/bulk", data=form, headers=olive, follow_redirects=False)
    assert created.status_code == 303 and "/jobs/" in created.headers["location"]
    wait_for(lambda: all(h.state == "terminated" for h in handles), timeout=20)
    job_page = client.get(created.headers["location"], headers=olive).text
    assert "2 done" in job_page and "by page" in job_page
    assert "by page" in client.get(f"{PREFIX}/jobs", headers=olive).text
    refused = client.post(f"{PREFIX}/bulk/preview", data=form | {"reason": ""}, headers=olive)
    assert refused.status_code == 400 and "reason is required" in refused.text
