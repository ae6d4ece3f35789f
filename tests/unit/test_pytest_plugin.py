"""The pytest plugin, run in pytester sessions as a user's project would run it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from continuum_celery.testing import WorkflowEnvironment, plugin
from tests.unit.plugin_support import PLUGIN, plugin_args

pytest_plugins = ["pytester"]

APP = """
from celery import Celery
from continuum_celery import Continuum, workflow

app = Celery("bank", set_as_current=False)
cx = Continuum(app, "postgresql://127.0.0.1:1/none", worker_upkeep=False)

@cx.activity(name="bank.pay")
def pay(amount):
    return amount * 2

@cx.workflow(name="bank.flow")
def flow(amount):
    paid = pay(amount)
    workflow.sleep(7 * 86400)
    return paid
"""

USER_TEST = """
from datetime import timedelta
from bank import flow

def test_flow(cx_env):
    started = cx_env.now()
    assert cx_env.start(flow, 21).result() == 42
    assert cx_env.now() - started == timedelta(days=7)

def test_each_test_gets_its_own(cx_env):
    assert cx_env.now() == cx_env.clock.current and not cx_env.journal.runs.by_id
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*plugin_args(), "-p", "no:cacheprovider", *args)


def test_the_app_named_in_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(bank=APP, test_user=USER_TEST)
    pytester.makeini("[pytest]\ncontinuum_app = bank:cx\n")
    _run(pytester).assert_outcomes(passed=2)


def test_the_app_named_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(bank=APP, test_user=USER_TEST)
    _run(pytester, "--continuum-app", "bank:cx").assert_outcomes(passed=2)


def test_the_app_from_an_overridden_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(bank=APP, test_user=USER_TEST)
    pytester.makeconftest("import pytest, bank\n\n@pytest.fixture\n"
                          "def continuum_app():\n    return bank.cx\n")  # fmt: skip
    _run(pytester).assert_outcomes(passed=2)


def test_no_app_named_says_how_to_name_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(bank=APP, test_user=USER_TEST)
    result = _run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*continuum_app = module:attribute*"])


@pytest.mark.parametrize(
    ("spec", "says"), [("bank", "must be module:attribute"), ("nope:cx", "No module named")]
)
def test_a_bad_app_spec_is_named(pytester: pytest.Pytester, spec: str, says: str) -> None:
    pytester.makepyfile(bank=APP, test_user=USER_TEST)
    result = _run(pytester, "--continuum-app", spec)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*{says}*"])


def test_alongside_celery_contrib_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        bank=APP,
        test_both="""
from bank import flow

def test_both(celery_app, celery_config, cx_env):
    assert celery_app.main and isinstance(celery_config, dict)
    assert cx_env.start(flow, 1).result() == 2
""",
    )
    result = _run(pytester, "-p", "celery.contrib.pytest", "--continuum-app", "bank:cx")
    result.assert_outcomes(passed=1)


def test_cx_worker_needs_a_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONTINUUM_DATABASE_URL", raising=False)
    pytester.makepyfile(bank=APP, test_w="def test_w(cx_worker):\n    pass\n")
    result = _run(pytester, "--continuum-app", "bank:cx")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cx_worker needs a Postgres server*"])


def test_the_entry_point_names_the_plugin() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {"continuum_celery": PLUGIN}
    assert {"cx_env", "cx_worker", "continuum_app"} <= set(vars(plugin))
    assert WorkflowEnvironment.__module__.startswith("continuum_celery.testing")
