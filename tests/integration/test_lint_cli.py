"""``continuum-celery lint`` as a user runs it: a subprocess on a sample module.

Needs no database or broker; it is here because each run starts a Python process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """\
import random
import time

from celery import Celery

from continuum_celery import Continuum, workflow

cx = Continuum(Celery("lint", set_as_current=False), "postgresql://127.0.0.1:1/none")


@cx.workflow()
def order(n):
    roll = random.random()
    return n + roll


def undecorated(n):
    time.sleep(n)
    return workflow.now()


registered = cx.workflow(name="lint.registered")(undecorated)
"""


def lint_cli(*targets: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "continuum_celery.cli", "lint", *targets]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_cli_reports_each_call_with_its_line_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "sample_flows.py").write_text(SAMPLE)
    done = lint_cli("sample_flows", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        "sample_flows.py:13:12: workflow order calls random.random(): use workflow.random() instead"
    )
    # found by importing: registered without decorator syntax
    assert "sample_flows.py:18:5: workflow undecorated calls time.sleep()" in lines[1]
    assert "2 finding(s) in 2 workflow function(s)" in done.stderr


def test_cli_reads_a_file_without_importing_it(tmp_path: Path) -> None:
    path = tmp_path / "sample_flows.py"
    path.write_text(SAMPLE.replace("import time\n", "import time\nraise SystemExit(3)\n"))
    done = lint_cli(str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert "sample_flows.py:14:12: workflow order calls random.random()" in done.stdout


def test_cli_exits_0_when_clean(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text(SAMPLE.replace("random.random()", "workflow.random()"))
    done = lint_cli("clean.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert done.stdout == ""


@pytest.mark.parametrize("target", ["no_such_module", "missing.py", "broken.py"])
def test_cli_refuses_a_bad_target_in_one_line_with_exit_2(tmp_path: Path, target: str) -> None:
    (tmp_path / "broken.py").write_text("def (:\n")
    done = lint_cli(target, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
