"""A long run's page shows a window of its history, and pages through it by seq."""

from __future__ import annotations

import re
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tests.integration.ui.conftest import PREFIX, basic
from tests.integration.ui.helpers import batch

pytestmark = pytest.mark.usefixtures("worker")
VIEWER = basic("victor")


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr class="event [^"]*" data-seq="(\d+)"', html)]


def test_the_history_pages_by_seq(client: TestClient, flows: ModuleType) -> None:
    handle = flows.cx.start(flows.chain, 120, attributes={"batch": batch()})
    handle.result(timeout=60)
    last = flows.cx.history(handle.run_id)[-1].seq
    assert last > 200
    page = client.get(f"{PREFIX}/runs/{handle.run_id}", headers=VIEWER).text
    assert seqs(page) == list(range(last - 199, last + 1))
    assert 'id="history-earlier"' in page and f"of {last}" in page
    assert page.count('class="bar-row kind-activity') <= 100  # the window's steps only
    first = client.get(f"{PREFIX}/runs/{handle.run_id}", params={"from_seq": 1},
                       headers=VIEWER).text  # fmt: skip
    assert seqs(first) == list(range(1, 201)) and 'id="history-later"' in first
    bad = client.get(f"{PREFIX}/runs/{handle.run_id}", params={"from_seq": 0}, headers=VIEWER)
    assert bad.status_code in (400, 422)
