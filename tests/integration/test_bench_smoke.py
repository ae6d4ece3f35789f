"""The benchmark runs end to end: ``python -m bench.run --quick`` against real workers.

Tiny sizes (5 workflows x 3 steps, no DBOS): this proves the bench works, not how
fast anything is. The bench creates and drops its own database and Redis db number.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.harness import REPO_ROOT


def test_quick_bench_prints_the_table_with_every_metric(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    # The fixtures only prove the servers answer (skipping or failing like every
    # other integration test); the bench makes its own database and Redis db.
    output = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--output", str(output)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    out = proc.stdout
    for header in ("steps/s", "p50 ms/step", "p99 ms/step", "commits/step", "msgs/step"):
        assert header in out, out
    for system in ("plain celery chain", "continuum", "vs celery chain"):
        assert system in out, out

    results = json.loads(output.read_text())
    chain, cx = results["systems"]["celery_chain"], results["systems"]["continuum"]
    for result in (chain, cx):
        assert result["steps"] == 15
        assert result["steps_per_s"] > 0
        assert result["latency"]["p50_ms"] > 0
        assert result["latency"]["p99_ms"] >= result["latency"]["p50_ms"]
    # Exact, structural counts: one message per chain step and no database; a
    # workflow needs at least one commit and one (activity) message per step.
    assert chain["published"] == chain["expected_msgs"] == 15
    assert chain["commits_per_step"] == 0
    assert cx["commits_per_step"] >= 1
    assert cx["msgs_per_step"] >= 1
    if elapsed > 40:
        pytest.fail(f"the quick bench took {elapsed:.1f}s, more than 40s")
