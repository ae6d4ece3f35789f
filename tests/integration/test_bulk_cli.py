"""``bulk`` and ``jobs`` on the command line, in a subprocess as an operator runs
them, with real workers carrying the jobs out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.integration.harness import WorkerFactory
from tests.integration.test_bulk import APP, park, start_worker

ROOT = Path(__file__).resolve().parents[2]
Done = subprocess.CompletedProcess[str]
Cli = Callable[..., Done]


@pytest.fixture(scope="module")
def env(bulky_db: str, broker_url: str) -> dict[str, str]:
    return {**os.environ, "CONTINUUM_DATABASE_URL": bulky_db, "BULKY_DATABASE_URL": bulky_db,
            "CELERY_BROKER_URL": broker_url, "PYTHONPATH": str(ROOT)}  # fmt: skip


def runner(prefix: list[str], env: dict[str, str]) -> Cli:
    def run(*args: str, answer: str | None = None) -> Done:
        return subprocess.run([sys.executable, *prefix, *args], cwd=ROOT, env=env, input=answer,
                              capture_output=True, text=True, timeout=90)  # fmt: skip

    return run


@pytest.fixture(scope="module")
def cli(env: dict[str, str]) -> Cli:
    return runner(["-m", "continuum_celery.cli"], env)


def ok(result: Done, code: int = 0) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: Done, *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), result.stderr


def test_dry_run_confirmation_and_a_job_followed_to_its_end(
    bulky: ModuleType, bulky_db: str, broker_url: str, worker_factory: WorkerFactory, cli: Cli
) -> None:
    start_worker(worker_factory, bulky_db, broker_url, batch=2)
    tag = uuid.uuid4().hex
    handles = park(bulky, tag, 4)
    query = f'attributes.tag = "{tag}"'
    out = ok(cli("bulk", "cancel", "--query", query, "--dry-run", "--sample", "3"))
    assert out.splitlines()[0] == "4 run(s) match"
    assert sum(h.run_id in out for h in handles) == 3
    jobs_before = bulky.cx.list_jobs()
    ok(cli("bulk", "cancel", "-q", query, "--reason", "r", answer="n\n"), code=1)  # declined
    refused(cli("bulk", "cancel", "-q", query), "--reason")
    assert bulky.cx.list_jobs() == jobs_before
    assert all(h.state == "running" for h in handles)

    finished = handles[0]
    bulky.cx.signal(finished.run_id, "go", 0)
    assert finished.result(timeout=15) == 0
    done = cli("bulk", "signal", "-q", query, "--reason", "release", "--yes", "--name", "go",
               "--payload", '{"n": 2}')  # fmt: skip
    out = ok(done, code=1)  # one run had already ended: the job has a failed item
    job_id = out.splitlines()[-2].split()[1].rstrip(":")
    assert out.splitlines()[-1] == f"job {job_id} completed: 3 done, 1 failed, 0 left"
    assert all(h.result(timeout=15) == {"n": 2} for h in handles[1:])

    assert job_id in ok(cli("jobs", "list"))
    [listed] = json.loads(ok(cli("jobs", "list", "--format", "json", "--state", "completed")))[:1]
    assert listed["job_id"] == job_id and listed["failed"] == 1
    shown = json.loads(ok(cli("jobs", "show", job_id, "--failed")))
    assert shown["job"]["state"] == "completed"
    assert [item["run_id"] for item in shown["failed"]] == [finished.run_id]


def test_no_wait_then_abort(bulky: ModuleType, cli: Cli) -> None:
    """No worker runs here, so the job waits for upkeep and the abort finds it whole."""
    tag = uuid.uuid4().hex
    for _ in range(3):
        bulky.cx.start(bulky.waits, tag, attributes={"tag": tag})
    out = ok(cli("bulk", "terminate", "-q", f'attributes.tag = "{tag}"', "--reason", "stop",
                 "--yes", "--no-wait"))  # fmt: skip
    job_id = out.splitlines()[-1].split()[1].rstrip(":")
    assert bulky.cx.get_job(job_id).state == "running"
    out = ok(cli("jobs", "abort", job_id, "--reason", "enough"))
    assert out == f"job {job_id} aborted: 0 done, 0 failed, 3 left\n"
    assert bulky.cx.get_job(job_id).state == "aborted"


def test_mistakes_are_one_line_and_exit_2(bulky: ModuleType, cli: Cli) -> None:
    refused(cli("bulk", "cancel", "-q", "state = running", "--dry-run"), "invalid query")
    refused(cli("bulk", "cancel", "-q", 'state = "failed"', "--name", "x"), "takes no --name")
    refused(cli("bulk", "signal", "-q", 'state = "failed"', "--dry-run"), "name")
    refused(cli("jobs", "show", str(uuid.uuid4())), "no job")
    refused(cli("jobs", "abort", "nope"), "UUID")


def test_the_same_commands_under_celery(bulky: ModuleType, env: dict[str, str]) -> None:
    celery = runner(["-m", "celery", "-A", APP, "continuum"], env)
    tag = uuid.uuid4().hex
    out = ok(celery("bulk", "cancel", "-q", f'attributes.tag = "{tag}"', "--dry-run"))
    assert out.splitlines()[0] == "0 run(s) match"
    assert "job_id" in ok(celery("jobs", "list"))
