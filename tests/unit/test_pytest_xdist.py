"""``cx_env`` under pytest-xdist: a user's suite split over two worker processes
passes, each test with an environment of its own (no shared state, no files, no
ports), so tests need not run serially."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from continuum_celery.testing import WorkflowEnvironment
from tests.unit.plugin_support import PLUGIN

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

APP = """
from celery import Celery
from continuum_celery import Continuum, workflow

app = Celery("farm", set_as_current=False)
cx = Continuum(app, "postgresql://127.0.0.1:1/none", worker_upkeep=False)

@cx.activity(name="farm.feed")
def feed(n):
    return n + 1

@cx.schedule("@hourly", schedule_id="feeding")
@cx.workflow(name="farm.flow")
def flow(n=0):
    fed = feed(n)
    workflow.sleep(30 * 86400)
    return fed
"""

USER_TEST = """
import os
from datetime import timedelta

import pytest

from farm import flow

@pytest.mark.parametrize("n", range(8))
def test_each_worker_runs_its_own(cx_env, n):
    assert os.environ["PYTEST_XDIST_WORKER"] in ("gw0", "gw1")
    assert not cx_env.journal.runs.by_id  # nothing left from another test
    handle = cx_env.start(flow, n)
    assert handle.run_id == "{first_run_id}"  # same seed, same ids, whichever worker
    assert handle.result() == n + 1

def test_schedules_skip_ahead(cx_env):
    cx_env.sleep(timedelta(days=1))
    # the first tick's run sleeps 30 days: the other 23 ticks are skipped
    assert len(cx_env.schedules.runs("feeding")) == 1
    assert cx_env.schedules.get("feeding").skipped == 23
"""


def test_a_suite_using_cx_env_passes_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(farm=APP)
    pytester.syspathinsert()  # pytester puts sys.path and sys.modules back afterwards
    farm = importlib.import_module("farm")
    first = WorkflowEnvironment(farm.cx).start("farm.flow").run_id
    pytester.makepyfile(test_farm=USER_TEST.replace("{first_run_id}", first))
    pytester.makeini("[pytest]\ncontinuum_app = farm:cx\npythonpath = .\n")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the workers import this tree's package
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # start fast: only these two
    result = pytester.runpytest_subprocess("-p", PLUGIN, "-p", "xdist", "-n", "2",
                                           "-p", "no:cacheprovider")  # fmt: skip
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["*2 workers*"])
