"""The JSON API over real runs: reads, query errors, paging, actions by role, CSRF."""

from __future__ import annotations

from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tests.integration.checks import wait_for
from tests.integration.ui.conftest import OPERATOR_TOKEN, PREFIX, VIEWER_TOKEN, basic, bearer
from tests.integration.ui.helpers import batch, retried, waiting

pytestmark = pytest.mark.usefixtures("worker")
API = PREFIX + "/api"
VIEWER, OPERATOR = bearer(VIEWER_TOKEN), bearer(OPERATOR_TOKEN)


def test_reads_show_a_run_with_its_retries(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    handle = retried(flows, tag)
    page = client.get(f"{API}/runs", params={"q": f'attributes.batch = "{tag}"'}, headers=VIEWER)
    assert page.status_code == 200
    [run] = page.json()["runs"]
    assert (run["run_id"], run["state"], run["result"]) == (handle.run_id, "completed", 3)
    described = client.get(f"{API}/runs/{handle.run_id}", headers=VIEWER).json()
    assert described["run"]["attributes"] == {"batch": tag}
    attempts = client.get(f"{API}/runs/{handle.run_id}/attempts", headers=VIEWER).json()
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [
        (1, "failed"), (2, "failed"), (3, "completed")]  # fmt: skip
    assert attempts[0]["celery_task_id"] == f"{attempts[0]['task_id']}-1"
    history = client.get(f"{API}/runs/{handle.run_id}/history", headers=VIEWER).json()
    assert history[0]["seq"] == 1 and history[-1]["type"] == "activity_completed"
    mark = client.get(f"{API}/runs/{handle.run_id}/mark", headers=VIEWER).json()
    assert (mark["state"], mark["last_seq"], mark["attempts"]) == ("completed", len(history), 3)


def test_counts_by_state(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    retried(flows, tag)
    waiting(flows, tag)
    params = {"q": f'attributes.batch = "{tag}"', "group_by": "state"}
    counted = client.get(f"{API}/count", params=params, headers=VIEWER).json()
    assert counted["total"] == 2
    assert {g["key"]["state"]: g["count"] for g in counted["groups"]} == {
        "completed": 1, "running": 1}  # fmt: skip


def test_a_bad_query_is_a_400_with_its_position(client: TestClient) -> None:
    answer = client.get(f"{API}/runs", params={"q": 'state = "failed" AND'}, headers=VIEWER)
    assert answer.status_code == 400
    assert answer.json()["position"] == len('state = "failed" AND')
    assert "invalid query" in answer.json()["error"]


def test_keyset_pages_cover_every_run_once(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    started = {waiting(flows, tag).run_id for _ in range(5)}
    seen: list[str] = []
    params: dict[str, object] = {"q": f'attributes.batch = "{tag}"', "limit": 2}
    while True:
        page = client.get(f"{API}/runs", params=params, headers=VIEWER).json()
        seen += [r["run_id"] for r in page["runs"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == 5 and set(seen) == started
    for run_id in started:
        flows.cx.terminate(run_id, "test over")


def test_an_unknown_run_is_404_and_a_bad_id_400(client: TestClient) -> None:
    assert client.get(f"{API}/runs/no-such-run", headers=VIEWER).status_code == 404
    assert client.get(f"{API}/runs/a%0Ab", headers=VIEWER).status_code == 400


def test_an_operator_signals_and_cancels_and_the_audit_trail_says_so(
    client: TestClient, flows: ModuleType
) -> None:
    handle = waiting(flows, batch(), count=2)
    body = {"name": "item", "payload": {"n": 1}, "reason": "testing signal"}
    sent = client.post(f"{API}/runs/{handle.run_id}/signal", json=body, headers=OPERATOR)
    assert sent.status_code == 200, sent.text
    cancel = {"reason": "testing cancel"}
    assert client.post(
        f"{API}/runs/{handle.run_id}/cancel", json=cancel, headers=OPERATOR
    ).is_success
    wait_for(lambda: handle.state == "cancelled")
    audit = client.get(f"{API}/runs/{handle.run_id}/audit", headers=VIEWER).json()
    assert [(a["action"], a["actor"], a["reason"]) for a in audit] == [
        ("signal", "ui:token-op", "testing signal"),
        ("cancel", "ui:token-op", "testing cancel"),
    ]


def test_an_action_needs_a_reason(client: TestClient, flows: ModuleType) -> None:
    handle = waiting(flows, batch())
    url = f"{API}/runs/{handle.run_id}/cancel"
    assert client.post(url, json={}, headers=OPERATOR).status_code == 422
    answer = client.post(url, json={"reason": "  "}, headers=OPERATOR)
    assert answer.status_code == 400 and "reason" in answer.json()["error"]
    assert flows.cx.audit(handle.run_id) == []
    flows.cx.terminate(handle.run_id, "test over")


def test_a_viewer_may_read_but_not_act(client: TestClient, flows: ModuleType) -> None:
    handle = waiting(flows, batch())
    for who in (VIEWER, basic("victor")):
        answer = client.post(f"{API}/runs/{handle.run_id}/cancel", json={"reason": "no"},
                             headers=who | {"X-CSRF-Token": _csrf(client, who)})  # fmt: skip
        assert answer.status_code == 403 and "operator role" in answer.json()["error"]
    assert client.get(f"{API}/whoami", headers=VIEWER).json()["actions"] == []
    assert "cancel" in client.get(f"{API}/whoami", headers=OPERATOR).json()["actions"]
    assert flows.cx.get_run(handle.run_id).state == "running"
    flows.cx.terminate(handle.run_id, "test over")


def _csrf(client: TestClient, who: dict[str, str]) -> str:
    client.get(PREFIX + "/", headers=who)
    return client.cookies.get("cx_csrf") or ""


def test_a_cookie_session_post_without_the_csrf_token_is_refused(
    client: TestClient, flows: ModuleType
) -> None:
    handle = waiting(flows, batch())
    olive = basic("olive")
    token = _csrf(client, olive)
    url = f"{API}/runs/{handle.run_id}/cancel"
    assert client.post(url, json={"reason": "x"}, headers=olive).status_code == 403
    wrong = olive | {"X-CSRF-Token": "not-the-token"}
    assert client.post(url, json={"reason": "x"}, headers=wrong).status_code == 403
    assert flows.cx.get_run(handle.run_id).cancel_requested_at is None
    right = olive | {"X-CSRF-Token": token}
    assert client.post(url, json={"reason": "csrf ok"}, headers=right).status_code == 200
    wait_for(lambda: handle.state == "cancelled")


def test_no_action_from_a_get(client: TestClient, flows: ModuleType) -> None:
    handle = waiting(flows, batch())
    for path in (f"/runs/{handle.run_id}/actions/cancel", f"/api/runs/{handle.run_id}/cancel"):
        # 404 where a run id may hold "/": the GET reads a run named ".../cancel".
        assert client.get(PREFIX + path, headers=OPERATOR).status_code in (404, 405)
    assert flows.cx.get_run(handle.run_id).cancel_requested_at is None
    flows.cx.terminate(handle.run_id, "test over")


def test_without_credentials_it_is_read_only(open_client: TestClient, flows: ModuleType) -> None:
    handle = waiting(flows, batch())
    assert open_client.get(f"{API}/runs/{handle.run_id}").status_code == 200
    token = _csrf(open_client, {})
    answer = open_client.post(f"{API}/runs/{handle.run_id}/cancel", json={"reason": "x"},
                              headers={"X-CSRF-Token": token})  # fmt: skip
    assert answer.status_code == 403 and "read-only" in answer.json()["error"]
    page = open_client.get(f"{PREFIX}/runs/{handle.run_id}").text
    assert "cancel-form" not in page and "read-only" in page
    flows.cx.terminate(handle.run_id, "test over")


def test_credentials_are_required_when_configured(client: TestClient) -> None:
    for headers in ({}, bearer("wrong-token-0123456789"), {"Authorization": "Basic !!"}):
        answer = client.get(f"{API}/runs", headers=headers)
        assert answer.status_code == 401
    assert "Basic" in client.get(f"{PREFIX}/").headers["www-authenticate"]


def test_saved_views_are_shared_by_name(client: TestClient, flows: ModuleType) -> None:
    tag = batch()
    handle = retried(flows, tag)
    view = {"name": f"batch {tag}", "query": f'attributes.batch = "{tag}"'}
    assert client.post(f"{API}/views", json=view, headers=OPERATOR).status_code == 200
    page = client.get(f"{PREFIX}/", params={"view": view["name"]}, headers=VIEWER).text
    assert handle.run_id in page
    bad = {"name": "broken", "query": "state ="}
    assert client.post(f"{API}/views", json=bad, headers=OPERATOR).status_code == 400
    names = [v["name"] for v in client.get(f"{API}/views", headers=VIEWER).json()]
    assert view["name"] in names and "broken" not in names


def test_a_switched_off_action_is_hidden_and_refused(flows: ModuleType) -> None:
    from continuum_celery.ui import create_app
    from tests.integration.ui.conftest import secured

    app = create_app(flows.cx, prefix=PREFIX, settings=secured(), disabled_actions=("terminate",))
    handle = waiting(flows, batch())
    with TestClient(app) as c:
        answer = c.post(f"{API}/runs/{handle.run_id}/terminate", json={"reason": "x"},
                        headers=OPERATOR)  # fmt: skip
        assert answer.status_code == 403 and "switched off" in answer.json()["error"]
        page = c.get(f"{PREFIX}/runs/{handle.run_id}", headers=OPERATOR).text
        assert 'id="cancel-form"' in page and 'id="terminate-form"' not in page
        assert "terminate" not in c.get(f"{API}/whoami", headers=OPERATOR).json()["actions"]
    assert flows.cx.get_run(handle.run_id).state == "running"
    flows.cx.terminate(handle.run_id, "test over")
