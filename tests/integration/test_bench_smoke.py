"""The benchmark runs end to end against real workers: ``python -m bench.run --quick``
and the parked-runs mode ``python -m bench.run --parked 30``.

Tiny sizes (5 workflows x 3 steps, no DBOS on the fast path, DBOS in the workloads
where it is installed; 30 parked runs): this proves the bench
works, not how fast anything is. The bench creates and drops its own database and
Redis db number.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
    # workflow needs at least one commit per step, and runs its later steps inline
    # (only its start and first activity travel through the broker).
    assert chain["published"] == chain["expected_msgs"] == 15
    assert chain["commits_per_step"] == 0
    assert cx["commits_per_step"] >= 1
    assert 0 < cx["msgs_per_step"] < 1
    if elapsed > 60:
        pytest.fail(f"the quick bench took {elapsed:.1f}s, more than 60s")


def test_parked_bench_reports_memory_upkeep_and_signal_throughput(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    # 30 runs (27 on a signal, 3 on an hour-long timer), measured after 10 and 30.
    output = tmp_path / "parked.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--parked", "30", "--parked-checkpoints", "10",
         "--upkeep-ticks", "3", "--idle-window", "0.5", "--warmup", "2", "--stats-settle", "2",
         "--output", str(output)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    out = proc.stdout
    for text in ("worker RSS MB", "upkeep p50 ms", "30 parked", "signal to completion"):
        assert text in out, out

    parked = json.loads(output.read_text())["parked"]
    assert (parked["signal_runs"], parked["timer_runs"]) == (27, 3)
    assert [c["kind"] for c in parked["checkpoints"]] == [
        "warm-up", "parked", "parked", "after-signals"
    ]  # fmt: skip
    assert [c["waiting"] for c in parked["checkpoints"]] == [0, 10, 30, 3]
    for checkpoint in parked["checkpoints"]:
        # main process, embedded beat and two pool children
        assert len(checkpoint["memory"]["processes"]) == 4
        assert checkpoint["memory"]["rss_mb"] > 0
        for key in ("upkeep_as_found", "upkeep"):  # before and after ANALYZE
            upkeep = checkpoint[key]
            assert upkeep["ticks"] == 3 and upkeep["p50_ms"] > 0
            assert upkeep["sql_statements_per_tick"] >= 1
            assert upkeep["work_done"] == {}  # nothing is due: every run is parked
        for key in ("upkeep_plans_as_found", "upkeep_plans"):
            assert set(checkpoint[key]) == {
                "due_waits", "expired_claims", "tasks_to_publish", "runs_to_wake"
            }  # fmt: skip
    assert [s["runs"] for s in parked["parking"]] == [10, 20]
    for stage in parked["parking"]:
        assert stage["runs_per_s"] > 0
        # The bench has the code, so a start parks in its own transaction: no wakeup.
        assert stage["msgs_per_run"] == 0
    signal = parked["signal"]
    assert signal["runs"] == 27 and signal["runs_per_s"] > 0
    assert signal["signal_to_completion_p99_ms"] >= signal["signal_to_completion_p50_ms"] > 0
    assert parked["summary"]["memory_rss_ratio_n_vs_first"] > 0
    if elapsed > 60:
        pytest.fail(f"the parked bench took {elapsed:.1f}s, more than 60s")


def test_ops_bench_times_listing_and_drains_expired_runs_with_what_they_own(
    database_url: str, tmp_path: Path
) -> None:
    # 2,000 runs, batch 50: about twenty retention ticks; the bench makes and drops
    # its own database.
    output = tmp_path / "ops.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ops", "--runs", "2000", "--calls", "5",
         "--count-calls", "2", "--batch", "50", "--output", str(output)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "runs/s" in proc.stdout and "Index" in proc.stdout, proc.stdout
    results = json.loads(output.read_text())
    seeded = results["seed"]
    assert (seeded["runs"], seeded["events"], seeded["tasks"]) == (2000, 8000, 2000)
    for listing in results["list_runs"]:
        assert listing["page1"]["calls"] == 5 and listing["page1"]["p50_ms"] > 0
        assert not any("Seq Scan on cx_runs" in line for line in listing["page1"]["plan"])
        assert listing["page1"]["server_ms"] > 0
    by_state = results["count_runs"][0]["counts"]
    assert sum(by_state.values()) == 2000 and by_state["failed"] == 60
    retention = results["retention"]
    deleted = retention["runs_deleted"]
    # about half (15 of 30 days); a run may come of age between the count and the drain
    assert 900 < retention["expired_before"] <= deleted <= retention["expired_before"] + 2
    assert retention["ticks"] == -(-deleted // 50)
    # every deleted run took its four events, its task and the task's attempt along
    assert retention["rows_deleted"] == {
        "runs": deleted, "events": 4 * deleted, "tasks": deleted, "attempts": deleted
    }  # fmt: skip
    assert retention["runs_deleted_per_s"] > 0


def test_schedules_bench_reports_the_tick_to_start_lag(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    # 30 schedules every 5 seconds, fired in real time on their next tick (at most
    # about 8 s away) with their wakeups published to a Redis queue of the bench's own.
    output = tmp_path / "schedules.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.schedules", "-n", "30", "--spec", "@every 5s",
         "--broker", broker_url, "--output", str(output)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "tick-to-created lag: p50" in proc.stdout, proc.stdout
    results = json.loads(output.read_text())
    assert results["schedules"] == 30 and results["runs"] >= 30 and results["published"]
    lag = results["lag_s"]
    for name in ("created", "committed", "published"):
        assert 0 < lag[name]["p50"] <= lag[name]["p99"] <= lag[name]["max"], lag
    # a row is inserted before its pass commits, and woken only after
    assert lag["created"]["max"] <= lag["committed"]["max"] <= lag["published"]["max"]
    assert results["idle_pass_ms"] > 0 and results["passes"] >= 1


def test_ui_bench_times_the_index_and_a_long_run_page(tmp_path: Path) -> None:
    # 2,000 runs and a run of 400 events: the pages render (200 each), and are timed.
    output = tmp_path / "ui.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ui", "--runs", "2000", "--events", "400", "--calls", "3",
         "--output", str(output)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    results = json.loads(output.read_text())
    assert results["seed"]["runs"] == 2000
    pages = {page["path"]: page for page in results["pages"]}
    assert "/" in pages and "/runs/run-long-history" in pages
    assert all(page["calls"] == 3 and page["p50_ms"] > 0 for page in pages.values())
    assert "p50 ms" in proc.stdout


def _workload(mode: str, tmp_path: Path) -> tuple[dict[str, Any], str, float]:
    output = tmp_path / f"{mode}.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--workload", mode, "--quick",
         "--idle-window", "0.2", "--warmup", "1", "--output", str(output)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert mode in proc.stdout and "commits" in proc.stdout, proc.stdout
    workload: dict[str, Any] = json.loads(output.read_text())["workloads"][mode]
    return workload, proc.stdout, elapsed


def _check_sizes(workload: dict[str, Any], elapsed: float, messages: bool = True) -> None:
    """``messages``: whether the workload's units publish any (a signal whose run the
    signaller resumes itself publishes none)."""
    ours = workload["continuum"]
    assert ours["units"] > 0 and ours["commits_per_unit"] > 0
    assert ours["rollbacks_per_unit"] >= 0 and (ours["msgs_per_unit"] > 0) == messages
    _check_dbos(workload)
    if elapsed > 75:  # about 20 s on an idle machine; a runaway, not a slow box
        pytest.fail(f"the {workload['unit']} workload took {elapsed:.1f}s")


def _check_dbos(workload: dict[str, Any]) -> None:
    """Where ``dbos`` is importable its peer runs at the quick size too; else it is skipped."""
    dbos = workload["dbos"]
    if importlib.util.find_spec("dbos") is None:
        assert "dbos not importable" in dbos["skipped"], dbos
        return
    assert dbos.get("units") == workload["continuum"]["units"], dbos
    assert dbos["commits_per_unit"] > 0 and dbos["msgs_per_unit"] == 0  # no broker
    assert ("lateness" in dbos or dbos["per_s"] > 0) and dbos["ratio"] > 0, dbos


@pytest.mark.parametrize("mode", ["message", "queues"])
def test_step_workloads_compare_with_a_chain_of_exactly_one_message_per_step(
    database_url: str, broker_url: str, tmp_path: Path, mode: str
) -> None:
    workload, _out, elapsed = _workload(mode, tmp_path)
    _check_sizes(workload, elapsed)
    ours, peer = workload["continuum"], workload["peer"]
    assert workload["size"] == "5x3" and ours["units"] == peer["units"] == 15
    assert peer["msgs_per_unit"] == 1.0 and peer["commits_per_unit"] == 0
    assert workload["ratio"] == pytest.approx(ours["per_s"] / peer["per_s"])
    if mode == "message":  # inline_budget=0: every activity is a broker message
        assert ours["msgs_per_unit"] >= 1.0


def test_fanout_workload_times_a_gather_and_a_chord_on_workers_and_end_to_end(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    workload, out, elapsed = _workload("fanout", tmp_path)
    _check_sizes(workload, elapsed)
    for side in (workload["continuum"], workload["peer"]):
        assert side["units"] == 20
        assert 0 < side["on_workers_s"] <= side["end_to_end_s"]
    assert workload["peer"]["msgs_per_unit"] >= 1.0  # a header task each, plus the callback
    assert workload["ratio_on_workers"] > 0 and "workers" in out


def test_starts_workload_compares_one_step_workflows_with_tasks_and_results(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    workload, _out, elapsed = _workload("starts", tmp_path)
    _check_sizes(workload, elapsed)
    assert workload["peer"]["msgs_per_unit"] == 1.0
    assert workload["continuum"]["commits_per_unit"] >= 1  # at least the start
    assert workload["ratio"] > 0


def test_signals_workload_reports_throughput_and_paced_latency(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    workload, _out, elapsed = _workload("signals", tmp_path)
    _check_sizes(workload, elapsed, messages=False)  # each run ends inside cx.signal
    ours = workload["continuum"]
    assert ours["per_s"] > 0 and ours["sent_per_s"] > 0
    latency = ours["latency"]
    assert latency["paced_per_s"] == 250
    assert latency["p99_ms"] >= latency["p50_ms"] > 0


def test_timers_workload_reports_lateness_against_eta_tasks(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    workload, _out, elapsed = _workload("timers", tmp_path)
    _check_sizes(workload, elapsed)
    for side in (workload["continuum"], workload["peer"]):
        assert side["units"] == 10
        assert side["lateness"]["p99_ms"] >= side["lateness"]["p50_ms"]
    assert workload["continuum"]["lateness"]["p50_ms"] >= 0  # never before fires_at


def test_unknown_workload_is_one_line_and_exit_2() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--workload", "message,nope"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown nope" in proc.stderr and "Traceback" not in proc.stderr
