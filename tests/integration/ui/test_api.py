"""The JSON API and the pages over real runs: reads, actions by role, CSRF, errors."""

from __future__ import annotations

import uuid
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tests.integration.checks import wait_for
from tests.integration.ui.conftest import OPERATOR_TOKEN, PREFIX, VIEWER_TOKEN, basic, bearer

pytestmark = pytest.mark.usefixtures("worker")


def test_smoke(client: TestClient, flows: ModuleType) -> None:
    handle = flows.retrying.delay(uuid.uuid4().hex, 2)
    handle.result(timeout=20)
    r = client.get(PREFIX + "/", headers=basic("victor"))
    assert r.status_code == 200, r.text
    r = client.get(PREFIX + f"/runs/{handle.run_id}", headers=basic("victor"))
    assert r.status_code == 200, r.text
    print(r.text[:3000])
