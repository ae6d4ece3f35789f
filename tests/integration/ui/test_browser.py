"""The UI in a real browser (Debian's Chromium via Playwright) against a uvicorn
server, the session's database and its real worker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.integration.checks import wait_for
from tests.integration.ui.conftest import USERS
from tests.integration.ui.helpers import HOSTILE, batch, retried, waiting

pytestmark = pytest.mark.usefixtures("worker")
SHOTS = os.environ.get("CONTINUUM_UI_SCREENSHOTS")
"""A directory to save screenshots of the index and a run page into (docs/ui)."""


def context(chromium: Any, user: str) -> Any:
    password = USERS[user][0]
    return chromium.new_context(http_credentials={"username": user, "password": password},
                                viewport={"width": 1280, "height": 900})  # fmt: skip


@pytest.fixture
def operator(chromium: Any) -> Iterator[Any]:
    ctx = context(chromium, "olive")
    yield ctx
    ctx.close()


@pytest.fixture
def viewer(chromium: Any) -> Iterator[Any]:
    ctx = context(chromium, "victor")
    yield ctx
    ctx.close()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_the_index_filters_and_shows_a_query_error(
    viewer: Any, served: str, flows: ModuleType
) -> None:
    tag = batch()
    done, live = retried(flows, tag), waiting(flows, tag)
    page = viewer.new_page()
    page.goto(served + "/")
    page.fill("#q", f'attributes.batch = "{tag}"')
    page.press("#q", "Enter")
    page.wait_for_selector(f'tr[data-run-id="{done.run_id}"]')
    assert page.locator("#runs tbody tr").count() == 2
    page.click('#state-filters a[data-state="running"]')
    page.wait_for_url("**state=running**")
    assert [r.get_attribute("data-run-id") for r in page.locator("#runs tbody tr").all()] == [
        live.run_id]  # fmt: skip
    page.fill("#q", 'state = "failed" AND (workflow')
    page.press("#q", "Enter")
    error = page.locator("#query-error")
    error.wait_for()
    assert "position 30" in error.inner_text()
    assert page.locator("#query-error mark").inner_text() == " "
    assert page.evaluate("document.getElementById('q').selectionStart") == 30
    flows.cx.terminate(live.run_id, "test over")


def test_the_index_shows_a_new_run_live(viewer: Any, served: str, flows: ModuleType) -> None:
    tag = batch()
    first = waiting(flows, tag)
    page = viewer.new_page()
    page.goto(f"{served}/?q=attributes.batch+%3D+%22{tag}%22")
    page.wait_for_selector(f'tr[data-run-id="{first.run_id}"]')
    page.wait_for_timeout(1200)  # the page has polled once and knows the counts
    second = waiting(flows, tag)
    page.wait_for_selector(f'tr[data-run-id="{second.run_id}"]', timeout=5000)
    flows.cx.terminate(first.run_id, "live index seen")
    page.wait_for_selector(f'tr[data-run-id="{first.run_id}"][data-state="terminated"]',
                           timeout=5000)  # fmt: skip
    assert page.url.endswith(f"%22{tag}%22")  # updated in place, not navigated
    flows.cx.terminate(second.run_id, "test over")


def test_paging_walks_every_run_once(viewer: Any, served: str, flows: ModuleType) -> None:
    tag = batch()
    started = {flows.cx.start(flows.chain, 1, attributes={"batch": tag}).run_id for _ in range(5)}
    page = viewer.new_page()
    page.goto(f"{served}/?q=attributes.batch+%3D+%22{tag}%22&limit=2")
    seen: list[str] = []
    while True:
        seen += [r.get_attribute("data-run-id") for r in page.locator("#runs tbody tr").all()]
        following = page.locator("#next-page")
        if following.count() == 0:
            break
        following.click()
        page.wait_for_load_state()
    assert len(seen) == 5 and set(seen) == started


def test_a_run_page_timeline_shows_the_retries(viewer: Any, served: str, flows: ModuleType) -> None:
    handle = retried(flows, batch())
    page = viewer.new_page()
    page.goto(f"{served}/runs/{handle.run_id}")
    bars = page.locator("#timeline .bar-row.kind-activity")
    assert bars.count() == 3
    assert page.locator("#timeline .bar-row.retry").count() == 2
    assert [b.get_attribute("data-outcome") for b in bars.all()] == [
        "failed",
        "failed",
        "completed",
    ]
    widths = [float(r.get_attribute("width")) for r in page.locator("#timeline rect").all()]
    assert all(w > 0 for w in widths)
    page.locator("#history details").first.click()
    assert page.locator("#history details[open] pre").first.is_visible()
    shot(page, "run.png")


def test_signal_and_cancel_from_the_page_with_the_state_changing_live(
    operator: Any, served: str, flows: ModuleType
) -> None:
    handle = waiting(flows, batch(), count=2)
    watcher, actor = operator.new_page(), operator.new_page()
    watcher.goto(f"{served}/runs/{handle.run_id}")
    actor.goto(f"{served}/runs/{handle.run_id}")
    actor.fill("#signal-form input[name=name]", "item")
    actor.fill("#signal-form textarea[name=payload]", '{"n": 1}')
    actor.fill("#signal-form input[name=reason]", "first item by hand")
    actor.click("#signal-form button")
    actor.locator("#notice").wait_for()
    wait_for(lambda: any(e.type == "signal_received" for e in flows.cx.history(handle.run_id)))
    watcher.locator("#history tr.type-signal_received").wait_for(timeout=5000)
    actor.fill("#cancel-form input[name=reason]", "not needed any more")
    actor.click("#cancel-form button")
    watcher.locator("#header .badge.state-cancelled").wait_for(timeout=5000)
    assert watcher.get_attribute("body", "data-refreshed") is not None
    assert "not needed any more" in watcher.locator("#audit").inner_text()
    assert handle.state == "cancelled"


def test_a_forged_csrf_token_is_refused(operator: Any, served: str, flows: ModuleType) -> None:
    handle = waiting(flows, batch())
    page = operator.new_page()
    page.goto(f"{served}/runs/{handle.run_id}")
    page.evaluate("document.querySelector('#cancel-form input[name=csrf]').value = 'forged'")
    page.fill("#cancel-form input[name=reason]", "forged")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#cancel-form button")
    assert posted.value.status == 403
    assert "CSRF" in page.locator("#problem").inner_text()
    assert flows.cx.get_run(handle.run_id).cancel_requested_at is None
    flows.cx.terminate(handle.run_id, "test over")


def test_a_viewer_sees_no_actions_and_an_operator_does(
    viewer: Any, operator: Any, served: str, flows: ModuleType
) -> None:
    handle = waiting(flows, batch())
    seen = viewer.new_page()
    seen.goto(f"{served}/runs/{handle.run_id}")
    assert seen.locator("#actions").count() == 0
    assert "victor · viewer" in seen.locator(".who").inner_text()
    acting = operator.new_page()
    acting.goto(f"{served}/runs/{handle.run_id}")
    for form in ("#signal-form", "#cancel-form", "#terminate-form", "#fork-form"):
        assert acting.locator(form).count() == 1
    flows.cx.terminate(handle.run_id, "test over")


def test_a_hostile_payload_is_rendered_as_text(viewer: Any, served: str, flows: ModuleType) -> None:
    handle = flows.cx.start(flows.wait_for_signals, 1, attributes={"batch": HOSTILE})
    flows.cx.signal(handle.run_id, HOSTILE, {"x": HOSTILE}, reason=HOSTILE)
    flows.cx.signal(handle.run_id, "item", HOSTILE)
    handle.result(timeout=20)
    page = viewer.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{served}/runs/{handle.run_id}")
    assert HOSTILE in page.locator("#attributes").inner_text()
    assert HOSTILE in page.locator("#result").inner_text()
    assert HOSTILE in page.locator("#audit").inner_text()
    page.goto(f"{served}/?q=" + uuid.uuid4().hex)  # a query error echoes the text back
    page.goto(f"{served}/")
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    assert dialogs == []
    shot(page, "index.png")


def test_bulk_from_a_query_with_a_dry_run_then_live_progress(
    operator: Any, served: str, flows: ModuleType
) -> None:
    tag = batch()
    handles = [waiting(flows, tag) for _ in range(3)]
    page = operator.new_page()
    page.goto(f"{served}/?q=attributes.batch+%3D+%22{tag}%22")
    page.click("#bulk-open")
    page.select_option("#bulk-action", "cancel")
    page.fill("#bulk-form input[name=reason]", "customer churned")
    shot(page, "bulk-dialog.png")
    page.click("#bulk-form button")
    assert page.locator("#bulk-count").inner_text() == "3"
    assert page.locator("#bulk-sample tbody tr").count() == 3
    assert all(flows.cx.get_run(h.run_id).cancel_requested_at is None for h in handles)
    shot(page, "bulk-preview.png")
    page.click("#bulk-confirm button")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector('#job[data-state="completed"]', timeout=20000)
    assert "3 done" in page.locator("#job-progress").inner_text()
    assert page.get_attribute("body", "data-refreshed") is not None  # updated in place
    wait_for(lambda: all(h.state == "cancelled" for h in handles))
