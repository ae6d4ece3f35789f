"""The README's example workflow and its pytest, run as a user would run them.

Both code blocks are taken from README.md as they stand, so the documented test
is the one that runs here: the app module as ``shop.py`` (with a stand-in for its
``payments`` client), the test as a user's test file, found through the plugin's
``continuum_app`` ini option.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.unit.plugin_support import plugin_args

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(heading: str) -> list[str]:
    text = README.read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _app_module() -> str:
    """The Example block up to ``cx.migrate()``: the definitions, no side effects."""
    code = _blocks("## Example")[0]
    return code.split("cx.migrate()", 1)[0]


def test_the_readme_test_passes_in_well_under_a_second(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        payments="def charge(order_id, amount):\n    raise AssertionError('mocked in tests')\n",
        shop=_app_module(),
        test_order_flow=_blocks("### Testing your workflows")[0],
    )
    pytester.makeini("[pytest]\ncontinuum_app = shop:cx\n")
    began = time.perf_counter()
    result = pytester.runpytest_inprocess(*plugin_args(), "-p", "no:cacheprovider", "--durations=0")
    result.assert_outcomes(passed=2)
    durations = re.findall(r"(\d+\.\d+)s call", str(result.stdout))
    assert time.perf_counter() - began < 5.0  # the whole session, import of the app included
    assert all(float(d) < 1.0 for d in durations)


def test_the_readme_names_what_the_test_needs() -> None:
    test = _blocks("### Testing your workflows")[0]
    assert 'wait_signal("review", timeout=3600)' in _app_module()
    lines = [line for line in test.splitlines() if line.strip()]
    assert "cx_env" in test and len(lines) <= 15
