"""The command line, run as an operator runs it: in a subprocess, against real servers.

Both entry points are covered: ``python -m continuum_celery.cli`` (the
``continuum-celery`` script) and ``celery -A app continuum`` (the Celery plugin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest
from celery import Celery

from continuum_celery import Continuum, RunCancelled, RunTerminated
from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate
from tests.integration.checks import types, wait_for
from tests.integration.conftest import FLOWS
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "continuum = continuum_celery.cli.celery_plugin:continuum"

Done = subprocess.CompletedProcess[str]
Cli = Callable[..., Done]


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where Python finds the ``celery.commands`` entry point, even before the
    package is reinstalled with it: a dist-info of its own, on PYTHONPATH."""
    found = entry_points(group="celery.commands").select(name="continuum")
    if found:
        return ""
    dist = tmp_path_factory.mktemp("plugin") / "continuum_celery_cli_plugin-0.dist-info"
    dist.mkdir()
    metadata = "Metadata-Version: 2.1\nName: continuum-celery-cli-plugin\nVersion: 0\n"
    (dist / "METADATA").write_text(metadata)
    (dist / "entry_points.txt").write_text(f"[celery.commands]\n{PLUGIN}\n")
    return str(dist.parent)


@pytest.fixture(scope="module")
def env(worker_env: dict[str, str], plugin_path: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), plugin_path]))
    return {**os.environ, **worker_env, "PYTHONPATH": path}


def _runner(prefix: list[str], env: dict[str, str]) -> Cli:
    def run(*args: str, extra_env: dict[str, str] | None = None) -> Done:
        command = [sys.executable, *prefix, *args]
        environment = {**env, **(extra_env or {})}
        return subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
        )

    return run


@pytest.fixture(scope="module")
def cli(env: dict[str, str]) -> Cli:
    return _runner(["-m", "continuum_celery.cli"], env)


@pytest.fixture(scope="module")
def celery_cli(env: dict[str, str]) -> Cli:
    return _runner(["-m", "celery", "-A", FLOWS, "continuum"], env)


@pytest.fixture(scope="module")
def clean_url(database_url: str) -> Iterator[str]:
    """A migrated database nobody uses: healthy by definition."""
    with fresh_database(database_url, "cx_cli") as url:
        db = Database(url, pool_size=1)
        migrate(db)
        db.dispose()
        yield url


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


# --- reading runs ------------------------------------------------------------------


def test_runs_show_prints_the_run_as_json_with_options_before_or_after(
    cli: Cli, flows: ModuleType, worker: WorkerProcess, database_url: str
) -> None:
    handle = flows.chain.delay(2)
    handle.result(timeout=20)
    url = ["--database-url", database_url]
    before = json.loads(ok(cli(*url, "runs", "show", handle.run_id)))
    after = json.loads(ok(cli("runs", "show", handle.run_id, *url)))
    alias = json.loads(ok(cli("show", handle.run_id, "--app", f"{FLOWS}:cx")))
    assert before == after == alias
    assert before["run_id"] == handle.run_id and before["state"] == "completed"


def test_history_is_a_plain_timeline_when_piped(
    cli: Cli, flows: ModuleType, worker: WorkerProcess, database_url: str
) -> None:
    handle = flows.chain.delay(2)
    handle.result(timeout=20)
    out = ok(cli("runs", "history", handle.run_id, "--database-url", database_url))
    assert "\x1b[" not in out, "no colour codes in a pipe"
    header, *rows = out.splitlines()
    assert header.split() == ["seq", "at", "event", "command", "took", "data"]
    completed = [row.split() for row in rows if "activity_completed" in row]
    assert len(completed) == 2
    assert all(row[1].startswith("+") and row[4].endswith("s") for row in completed)
    assert ok(cli("history", handle.run_id, "--database-url", database_url)) == out


def test_history_as_json_and_jsonl(
    cli: Cli, flows: ModuleType, worker: WorkerProcess, database_url: str
) -> None:
    handle = flows.chain.delay(1)
    handle.result(timeout=20)
    args = ["--database-url", database_url, "runs", "history", handle.run_id, "--format"]
    events = json.loads(ok(cli(*args, "json")))
    lines = [json.loads(line) for line in ok(cli(*args, "jsonl")).splitlines()]
    assert events == lines
    assert [e["type"] for e in events] == types(flows.cx.history(handle.run_id))
    [done] = [e for e in events if e["type"] == "activity_completed"]
    assert done["duration"] >= 0 and done["offset"] >= done["duration"]


# --- acting on runs ----------------------------------------------------------------


def test_signal_delivers_a_json_payload(cli: Cli, flows: ModuleType, worker: WorkerProcess) -> None:
    handle = flows.wait_for_signals.delay(2)
    app = ["--app", f"{FLOWS}:cx"]
    ok(cli(*app, "signal", handle.run_id, "item", '{"n": 1}'))
    ok(cli("signal", handle.run_id, "item", *app))
    assert handle.result(timeout=20) == [{"n": 1}, None]


def test_cancel_and_terminate(cli: Cli, flows: ModuleType, worker: WorkerProcess) -> None:
    cancelled = flows.signal_or_timeout.delay(60.0)
    terminated = flows.signal_or_timeout.delay(60.0)
    ok(cli("cancel", cancelled.run_id, "--reason", "not needed", "--app", FLOWS))
    ok(cli("--app", FLOWS, "terminate", terminated.run_id, "--reason", "bad data"))
    with pytest.raises(RunCancelled):
        cancelled.result(timeout=20)
    with pytest.raises(RunTerminated, match="bad data"):
        terminated.result(timeout=20)
    missing = cli("terminate", terminated.run_id, "--app", FLOWS)
    assert missing.returncode == 2 and "Missing option '--reason'" in missing.stderr


def test_fork_prints_the_new_run_id(
    cli: Cli, flows: ModuleType, worker: WorkerProcess, state_dir: Path
) -> None:
    key = uuid.uuid4().hex
    (state_dir / f"fixed-{key}").touch()
    done = flows.fixable.delay(key)
    assert done.result(timeout=20) == [3, "fixed"]
    fork_id = ok(cli("fork", done.run_id, "--at", "1", "--reason", "again", "--app", FLOWS))
    fork = flows.cx.run(fork_id.strip())
    assert fork.result(timeout=20) == [3, "fixed"]
    assert flows.cx.get_run(fork.run_id).forked_from == done.run_id


def test_retry_activity_makes_the_backoff_due_now(
    cli: Cli, flows: ModuleType, worker: WorkerProcess
) -> None:
    key = uuid.uuid4().hex
    handle = flows.patient.delay(key)
    wait_for(lambda: flows.calls(f"{key}-backs-off") == 1)
    wait_for(lambda: flows.cx.activity_tasks(handle.run_id)[0].attempt == 2)
    assert ok(cli("retry-activity", handle.run_id, "--app", FLOWS)).strip() == "1 activity due now"
    assert handle.result(timeout=15) == "second attempt"


# --- mistakes ------------------------------------------------------------------------


def test_user_errors_are_one_line_and_exit_2(
    cli: Cli, flows: ModuleType, database_url: str
) -> None:
    url = ["--database-url", database_url]
    refused(cli("runs", "show", "no-such-run", *url), "no run with id no-such-run")
    refused(cli("runs", "show", "x" * 300, *url), "run_id must be")
    refused(cli("signal", "some-run", "go", "{bad", *url), "PAYLOAD_JSON is not valid JSON")
    no_url = {"CONTINUUM_DATABASE_URL": ""}
    refused(cli("show", "some-run", extra_env=no_url), "--database-url", "CONTINUUM_DATABASE_URL")
    unreachable = "postgresql://postgres:secret@127.0.0.1:1/nothing"
    line = refused(cli("show", "some-run", "--database-url", unreachable), "cannot reach")
    assert "secret" not in line
    refused(cli("show", "x", "--app", "no.such.module"), "cannot import")
    refused(cli("show", "x", "--app", FLOWS, *url), "--database-url")


def test_an_unmigrated_database_is_named_with_its_fix(cli: Cli, database_url: str) -> None:
    with fresh_database(database_url, "cx_cli_empty") as empty:
        refused(cli("runs", "show", "r", "--database-url", empty), "continuum-celery migrate")
        verdict = ok(cli("health", "--database-url", empty), code=1).splitlines()[-1]
        assert verdict.startswith("needs attention: schema lacks")
        assert ok(cli("migrate", "--database-url", empty)).startswith("applied [1, 2")
        assert ok(cli("--database-url", empty, "migrate")).strip() == "schema is up to date"


# --- health ------------------------------------------------------------------------


def test_health_is_0_on_a_clean_database(cli: Cli, clean_url: str) -> None:
    assert ok(cli("health", "--database-url", clean_url)).splitlines()[-1] == "ok"
    report = json.loads(ok(cli("--database-url", clean_url, "health", "--format", "json")))
    assert report["ok"] and report["blocked_runs"] == 0
    assert report["schema_version"] == report["shipped_version"]


def test_health_is_1_with_a_blocked_run(
    cli: Cli, celery_cli: Cli, flows: ModuleType, worker: WorkerProcess, database_url: str
) -> None:
    app = Celery("bare", broker=os.environ["CELERY_BROKER_URL"], set_as_current=False)
    bare = Continuum(app, database_url)
    handle = bare.start("nobody.has.this")
    wait_for(lambda: handle.state == "blocked", timeout=20)
    report = json.loads(ok(cli("health", "--format", "json", "--database-url", database_url), 1))
    assert report["blocked_runs"] >= 1 and not report["ok"]
    assert "blocked run(s)" in ok(celery_cli("health"), code=1)
    bare.terminate(handle.run_id, "a test run nobody can run")
    bare.db.dispose()


# --- the celery plugin ---------------------------------------------------------------


def test_celery_continuum_runs_the_same_commands_on_the_apps_continuum(
    celery_cli: Cli, flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.wait_for_signals.delay(1)
    shown = json.loads(ok(celery_cli("runs", "show", handle.run_id)))
    assert shown["workflow"] == flows.wait_for_signals.name
    ok(celery_cli("signal", handle.run_id, "item", "[1, 2]"))
    assert handle.result(timeout=20) == [[1, 2]]
    assert "signal_received" in ok(celery_cli("history", handle.run_id))
    refused(celery_cli("show", "no-such-run"), "no run with id")
    refused(celery_cli("show", "x", "--database-url", "postgresql://h/d"), "--database-url")
