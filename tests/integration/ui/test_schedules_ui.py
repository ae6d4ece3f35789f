"""Schedules in the UI: listed with their next ticks and counters, linked to their
runs, and paused, unpaused and triggered by operators only."""

from __future__ import annotations

import uuid
from types import ModuleType
from urllib.parse import quote

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

pytestmark = pytest.mark.usefixtures("worker")
API = PREFIX + "/api"
VIEWER, OPERATOR = bearer(VIEWER_TOKEN), bearer(OPERATOR_TOKEN)


@pytest.fixture
def schedule(flows: ModuleType) -> str:
    schedule_id = f"ui-{uuid.uuid4().hex[:8]}"
    flows.cx.schedules.create(schedule_id, flows.chain.name, "0 3 * * *", args=(1,))
    return schedule_id


def test_schedules_are_listed_with_next_ticks_and_counters(
    client: TestClient, schedule: str
) -> None:
    listed = {s["schedule_id"]: s for s in client.get(f"{API}/schedules", headers=VIEWER).json()}
    found = listed[schedule]
    assert found["specs"] == ["0 3 * * *"] and len(found["next_fire_times"]) == 3
    assert (found["paused"], found["actions"], found["missed_catchup"]) == (False, 0, 0)
    assert found["runs_query"] == f'attributes.schedule_id = "{schedule}"'
    page = client.get(f"{PREFIX}/schedules", headers=VIEWER).text
    assert f'data-schedule-id="{schedule}"' in page
    assert quote(f'attributes.schedule_id = "{schedule}"', safe="").replace("%20", "+") in page
    assert "schedule-toggle" not in page  # a viewer sees no actions


def test_an_operator_pauses_unpauses_and_triggers(
    client: TestClient, flows: ModuleType, schedule: str
) -> None:
    url = f"{API}/schedules/{schedule}"
    paused = client.post(f"{url}/pause", json={"reason": "quarter close"}, headers=OPERATOR)
    assert paused.status_code == 200
    found = client.get(url, headers=VIEWER).json()
    assert (found["paused"], found["note"]) == (True, "quarter close")
    assert client.post(f"{url}/unpause", json={"reason": "done"}, headers=OPERATOR).json()
    assert client.get(url, headers=VIEWER).json()["paused"] is False
    triggered = client.post(f"{url}/trigger", json={"reason": "now"}, headers=OPERATOR).json()
    run_id = triggered["run_id"]
    assert run_id and flows.cx.get_run(run_id).attributes["schedule_id"] == schedule
    wait_for(lambda: flows.cx.get_run(run_id).state == "completed")
    index = client.get(f"{PREFIX}/", params={"q": found["runs_query"]}, headers=VIEWER).text
    assert f'data-run-id="{run_id}"' in index


def test_schedule_actions_need_an_operator_a_reason_csrf_and_the_switch(
    client: TestClient, flows: ModuleType, schedule: str
) -> None:
    url = f"{API}/schedules/{schedule}/pause"
    assert client.post(url, json={"reason": "x"}, headers=VIEWER).status_code == 403
    assert client.post(url, json={"reason": "x"}, headers=basic("olive")).status_code == 403
    assert client.post(url, json={"reason": " "}, headers=OPERATOR).status_code == 400
    nothing = client.post(f"{API}/schedules/{schedule}/explode", json={"reason": "x"},
                          headers=OPERATOR)  # fmt: skip
    assert nothing.status_code == 404
    missing = client.post(f"{API}/schedules/nope-{schedule}/pause", json={"reason": "x"},
                          headers=OPERATOR)  # fmt: skip
    assert missing.status_code == 404
    app = create_app(flows.cx, prefix=PREFIX, settings=secured(), disabled_actions=("schedules",))
    with TestClient(app) as c:
        assert c.post(url, json={"reason": "x"}, headers=OPERATOR).status_code == 403
        assert "schedule-toggle" not in c.get(f"{PREFIX}/schedules", headers=OPERATOR).text
    assert flows.cx.schedules.describe(schedule).schedule.paused is False


def test_the_page_pauses_with_a_form(client: TestClient, flows: ModuleType, schedule: str) -> None:
    olive = basic("olive")
    assert "schedule-toggle" in client.get(f"{PREFIX}/schedules", headers=olive).text
    form = {"csrf": client.cookies.get("cx_csrf") or "", "reason": "by form"}
    done = client.post(f"{PREFIX}/schedules/{schedule}/pause", data=form, headers=olive)
    assert done.status_code == 200 and "paused" in done.text
    assert flows.cx.schedules.describe(schedule).schedule.note == "by form"
