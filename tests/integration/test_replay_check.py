"""The replay gate: runs recorded by a real worker, replayed against two releases.

A worker of ``replay_shop`` completes orders and leaves one waiting for its
signal. Replaying them against the same code is clean (exit 0); against
``replay_shop_edited``, whose step 2 calls another activity, every run drifts at
seq 3 and the command line says where (exit 1). Mistakes exit 2 with one line.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from continuum_celery import RunNotFound
from continuum_celery.testing import Replayer
from tests.integration.checks import types, wait_for
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
RELEASED = "tests.integration.apps.replay_shop"
EDITED = "tests.integration.apps.replay_shop_edited"
EXPECTED = "expected activity_scheduled activity:replay.charge:0"
ACTUAL = "got activity_scheduled activity:replay.hold:0"

Done = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def shop_env(database_url: str, broker_url: str) -> Iterator[dict[str, str]]:
    """A database of its own, so the runs checked are exactly the ones made here."""
    with fresh_database(database_url, "cx_replay") as url:
        yield {"REPLAY_DATABASE_URL": url, "CELERY_BROKER_URL": broker_url}


@pytest.fixture(scope="module")
def shop(shop_env: dict[str, str]) -> ModuleType:
    os.environ.update(shop_env)
    module = importlib.import_module(RELEASED)
    module.cx.migrate()
    return module


@pytest.fixture(scope="module")
def recorded(
    shop: ModuleType, shop_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Two orders completed by a real worker, one waiting on its signal: run ids."""
    worker = WorkerProcess(RELEASED, concurrency=1, env=shop_env,
                           log_dir=tmp_path_factory.mktemp("replay-worker"))  # fmt: skip
    worker.start()
    try:
        runs = {name: shop.order.delay(f"o-{name}", 10 * n).run_id
                for n, name in enumerate(["done1", "done2", "waiting"], 1)}  # fmt: skip
        for run_id in runs.values():
            wait_for(lambda r=run_id: "signal_awaited" in types(shop.cx.history(r)))
        for name in ["done1", "done2"]:
            shop.cx.signal(runs[name], "packed")
            assert shop.cx.run(runs[name]).result(timeout=30)["shipment"] == f"shipped o-{name}"
    finally:
        worker.kill()
    return runs


@pytest.fixture(scope="module")
def cli(shop_env: dict[str, str]) -> Callable[..., Done]:
    env = {**os.environ, **shop_env, "PYTHONPATH": str(ROOT)}

    def run(*args: str, database: str | None = None) -> Done:
        command = [sys.executable, "-m", "continuum_celery.cli", "replay-check", *args]
        environment = env if database is None else {**env, "REPLAY_DATABASE_URL": database}
        return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    return run


def test_unchanged_code_replays_clean(cli: Callable[..., Done], recorded: dict[str, str]) -> None:
    done = cli("--app", f"{RELEASED}:cx", "--workflow", "replay.order", "--since", "7d")

    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert "replayed 3 run(s): 0 drifted" in done.stderr


def test_a_changed_step_two_fails_the_gate_naming_each_run(
    cli: Callable[..., Done], recorded: dict[str, str]
) -> None:
    done = cli("--app", f"{EDITED}:cx", "--workflow", "replay.order", "--since", "7d")

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, "every run drifts: completed ones and the waiting one"
    for run_id in recorded.values():
        line = f"drift: run {run_id} (replay.order) seq 3: {EXPECTED}, {ACTUAL}"
        assert line in lines
    assert "replayed 3 run(s): 3 drifted" in done.stderr


def test_query_and_limit_narrow_the_check(
    cli: Callable[..., Done], recorded: dict[str, str]
) -> None:
    edited = ("--app", f"{EDITED}:cx")
    waiting = cli(*edited, "--query", 'state = "running"')
    one = cli(*edited, "--limit", "1", "--page", "1")
    none = cli(*edited, "--since", "2000-01-01", "--query", 'created_at < "2001-01-01"')

    assert waiting.returncode == 1 and waiting.stdout.count("drift:") == 1
    assert recorded["waiting"] in waiting.stdout
    assert one.returncode == 1 and "replayed 1 run(s)" in one.stderr
    assert (none.returncode, none.stderr.strip()) == (0, "replayed 0 run(s): 0 drifted")


def test_an_export_file_is_checked_without_the_journal(
    cli: Callable[..., Done], recorded: dict[str, str], shop_env: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "runs.jsonl"
    export = [sys.executable, "-m", "continuum_celery.cli", "export", "--app", f"{RELEASED}:cx",
              "--output", str(path)]  # fmt: skip
    env = {**os.environ, **shop_env, "PYTHONPATH": str(ROOT)}
    subprocess.run(export, cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)

    nowhere = "postgresql://nobody@127.0.0.1:9/unused"  # CI needs no database for a file
    clean = cli("--app", f"{RELEASED}:cx", "--jsonl", str(path), database=nowhere)
    drifted = cli("--app", f"{EDITED}:cx", "--jsonl", str(path), "--limit", "2")

    assert clean.returncode == 0 and "replayed 3 run(s)" in clean.stderr, clean.stderr
    assert drifted.returncode == 1 and drifted.stdout.count(f"seq 3: {EXPECTED}") == 2


def test_replayer_reads_runs_from_the_journal(shop: ModuleType, recorded: dict[str, str]) -> None:
    edited = importlib.import_module(EDITED)

    clean = Replayer(shop.cx).replay_run(recorded["done1"])
    drift = Replayer(edited.cx).replay_run(recorded["waiting"]).drift
    report = Replayer.report(Replayer(edited.cx).iter_journal(workflow="replay.order"))

    with pytest.raises(RunNotFound):
        Replayer(shop.cx).replay_run("no-such-run")
    assert clean.ok and clean.state == "completed"
    assert drift is not None and (drift.seq, drift.actual) == (3, ACTUAL.removeprefix("got "))
    assert (report.replayed, len(report.drifts)) == (3, 3)


def test_the_celery_plugin_runs_it_with_the_apps_code(
    shop_env: dict[str, str], recorded: dict[str, str]
) -> None:
    env = {**os.environ, **shop_env, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "celery", "-A", EDITED, "continuum", "replay-check",
               "--workflow", "replay.order"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip

    assert done.returncode == 1, done.stderr
    assert done.stdout.count(f"seq 3: {EXPECTED}, {ACTUAL}") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workflow", "replay.order"], "replay-check needs your code: pass --app module:cx"),
        (["--app", f"{RELEASED}:cx", "--workflow", "shop.nope"], "no workflow named 'shop.nope'"),
        (["--app", f"{RELEASED}:cx", "--since", "a week"], "expected an ISO-8601 time"),
        (["--app", f"{RELEASED}:cx", "--query", "state =="], "expected"),
        (["--app", f"{RELEASED}:cx", "--limit", "0"], "limit must be at least 1"),
        (["--app", f"{RELEASED}:cx", "--jsonl", "/nonexistent.jsonl"], "cannot read"),
        (["--app", f"{RELEASED}:cx", "--jsonl", "x.jsonl", "--since", "7d"], "not with --jsonl"),
    ],
)
def test_mistakes_exit_2_with_one_line(
    cli: Callable[..., Done], shop: ModuleType, args: list[str], message: str
) -> None:
    done = cli(*args)

    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr
