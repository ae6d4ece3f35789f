"""``cx_worker``: a user's test gets a real celery worker on a database of its own."""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.conftest import PG_SERVER, _with_path
from tests.unit.plugin_support import plugin_args

pytest_plugins = ["pytester"]

APP = """
import os
from celery import Celery
from continuum_celery import Continuum

app = Celery("bank", broker=os.environ["BANK_BROKER"], set_as_current=False)
app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
cx = Continuum(app)  # the URL comes from CONTINUUM_DATABASE_URL

@cx.activity(name="bank.pay")
def pay(amount):
    return amount * 2

@cx.workflow(name="bank.flow")
def flow(amount):
    return pay(amount) + 1
"""

USER_TEST = """
import os
from celery import Celery
from continuum_celery import Continuum

def test_real_worker(cx_worker):
    print("DATABASE", cx_worker.database_url)
    app = Celery("bank", broker=os.environ["BANK_BROKER"], set_as_current=False)
    client = Continuum(app, cx_worker.database_url, worker_upkeep=False)
    handle = client.start("bank.flow", 20)
    try:
        assert handle.result(timeout=60) == 41
    except BaseException:  # what the worker saw, for whoever reads the failure
        print("RUN", client.get_run(handle.run_id), "WORKER LOG", cx_worker.log()[-8000:])
        raise
    assert cx_worker.stop() == 0
"""


def _exists(database: str) -> bool:
    with psycopg.connect(_with_path(PG_SERVER, "/postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    return row is not None


def test_cx_worker_runs_a_real_worker_on_a_throwaway_database(
    pytester: pytest.Pytester, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANK_BROKER", broker_url)
    monkeypatch.setenv("CONTINUUM_DATABASE_URL", PG_SERVER)
    pytester.makepyfile(bank=APP, test_user=USER_TEST)
    pytester.makeini("[pytest]\ncontinuum_app = bank:cx\n")
    result = pytester.runpytest_inprocess(*plugin_args(), "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    found = re.search(r"DATABASE \S+/(cx_pytest_[0-9a-f]+)", str(result.stdout))
    assert found is not None, str(result.stdout)
    assert not _exists(found.group(1))  # dropped after the test
