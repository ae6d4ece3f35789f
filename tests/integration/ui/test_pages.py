"""The pages over real runs: escaping, security headers, cookies, mounting, the index."""

from __future__ import annotations

from types import ModuleType
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from continuum_celery.ui import create_app
from tests.integration.ui.conftest import OPERATOR_TOKEN, PREFIX, basic, bearer, secured
from tests.integration.ui.helpers import HOSTILE, batch, retried, waiting

pytestmark = pytest.mark.usefixtures("worker")
VIEWER = basic("victor")


def test_hostile_strings_are_rendered_as_text(client: TestClient, flows: ModuleType) -> None:
    handle = flows.cx.start(flows.wait_for_signals, 1, attributes={"batch": HOSTILE})
    flows.cx.signal(handle.run_id, HOSTILE, {"x": HOSTILE}, reason=HOSTILE)
    flows.cx.signal(handle.run_id, "item", HOSTILE)
    assert handle.result(timeout=20) == [HOSTILE]
    for path in (f"/runs/{handle.run_id}", "/"):
        page = client.get(PREFIX + path, headers=VIEWER).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/api/runs", "/static/app.js", "/runs/no-such-run"):
        headers = client.get(PREFIX + path, headers=VIEWER).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


def test_the_csrf_cookie_is_httponly_strict_and_secure_behind_https(secured_app: object) -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(secured_app, base_url=base) as c:  # type: ignore[arg-type]
            cookie = c.get(PREFIX + "/", headers=VIEWER).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert ("Secure" in cookie) is secure


def test_pages_have_no_inline_script(client: TestClient, flows: ModuleType) -> None:
    handle = retried(flows, batch())
    for path in ("/", f"/runs/{handle.run_id}"):
        page = client.get(PREFIX + path, headers=VIEWER).text
        assert "<script>" not in page and " style=" not in page and " onclick" not in page


def test_the_run_page_shows_retries_flower_links_and_history(
    client: TestClient, flows: ModuleType
) -> None:
    handle = retried(flows, batch())
    page = client.get(f"{PREFIX}/runs/{handle.run_id}", headers=VIEWER).text
    assert page.count('class="bar-row kind-activity retry"') == 2
    assert page.count('data-outcome="failed"') == 2
    assert 'href="http://flower.example:5555/task/' in page
    assert "transient failure 1" in page and "<details" in page


def test_mounted_in_a_host_app_under_its_prefix(flows: ModuleType) -> None:
    host = FastAPI()
    host.mount("/ops/continuum", create_app(flows.cx, prefix="/ops/continuum", settings=secured()))
    with TestClient(host) as c:
        page = c.get("/ops/continuum/", headers=VIEWER)
        assert page.status_code == 200
        assert 'href="/ops/continuum/static/app.css"' in page.text
        assert c.get("/ops/continuum/api/runs", headers=bearer(OPERATOR_TOKEN)).status_code == 200


def test_outside_its_prefix_nothing_is_served(client: TestClient) -> None:
    assert client.get("/api/runs", headers=VIEWER).status_code == 404
    assert client.get(PREFIX, headers=VIEWER, follow_redirects=False).status_code == 307


def test_the_index_filters_by_state_and_workflow_with_counts(
    client: TestClient, flows: ModuleType
) -> None:
    tag = batch()
    done, live = retried(flows, tag), waiting(flows, tag)
    q = f'attributes.batch = "{tag}"'
    page = client.get(PREFIX + "/", params={"q": q, "state": "running"}, headers=VIEWER).text
    assert live.run_id in page and done.run_id not in page
    assert 'data-state="completed">completed <span class="count">1</span>' in page
    page = client.get(PREFIX + "/", params={"q": q, "workflow": flows.retrying.name},
                      headers=VIEWER).text  # fmt: skip
    assert done.run_id in page and live.run_id not in page
    flows.cx.terminate(live.run_id, "test over")


def test_a_query_error_points_at_its_position(client: TestClient) -> None:
    answer = client.get(PREFIX + "/", params={"q": 'state = "x" AND AND'}, headers=VIEWER)
    assert answer.status_code == 400
    assert 'data-position="16"' in answer.text and "<mark>A</mark>" in answer.text


def test_a_run_id_with_url_characters_links_to_its_page(
    client: TestClient, flows: ModuleType
) -> None:
    run_id = f"order #7?a b&c=ö {batch()}"
    flows.cx.start(flows.chain, 1, run_id=run_id, attributes={"batch": run_id[-12:]})
    page = client.get(PREFIX + "/", params={"q": f'run_id = "{run_id}"'}, headers=VIEWER).text
    href = f"{PREFIX}/runs/{quote(run_id, safe='')}"
    assert f'href="{href}"' in page
    answer = client.get(href, headers=VIEWER)
    assert answer.status_code == 200 and f'id="run-id">{run_id}<' in answer.text.replace(
        "&amp;", "&"
    )
