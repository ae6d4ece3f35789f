"""Schemathesis against /openapi.json: generated requests to every documented
endpoint, as an operator, find no 5xx and no answer that breaks the schema."""

from __future__ import annotations

from types import ModuleType

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from continuum_celery.ui import create_app
from tests.integration.ui.conftest import OPERATOR_TOKEN, PREFIX, secured

pytestmark = pytest.mark.usefixtures("worker")
EXAMPLES = 8
# Left out: "schema-valid data is accepted". A query string, a run id or a reason can
# be well-formed JSON yet mean nothing (``q="x"``), and the API says so with a 400.


def test_the_schema_is_served_and_lists_the_api(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    schema = client.get(
        f"{PREFIX}/openapi.json", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    ).json()
    paths = set(schema["paths"])
    assert {"/api/runs", "/api/count", "/api/runs/{run_id}", "/api/runs/{run_id}/history",
            "/api/runs/{run_id}/audit", "/api/runs/{run_id}/signal"} <= paths  # fmt: skip
    assert not any(p.startswith("/runs") for p in paths)


def test_generated_requests_find_no_server_error(flows: ModuleType) -> None:
    app = create_app(flows.cx, prefix=PREFIX, settings=secured())
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    schema = schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    strategy = st.one_of([op.as_strategy() for op in operations])

    @given(strategy)
    @settings(max_examples=EXAMPLES * len(operations), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()
