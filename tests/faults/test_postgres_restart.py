"""Postgres restarts under running workers: every connection dies mid-whatever, the
databases survive, and workers reconnect and finish the runs."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import PG_SERVER
from tests.faults.support import Lab, assert_journal, has_event, wait_for

CONFIG_ROOT = Path("/etc/postgresql")


def cluster_version() -> str | None:
    """The local cluster serving the tests, if we are allowed to restart it."""
    if urlsplit(PG_SERVER).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    if shutil.which("pg_ctlcluster") is None or not CONFIG_ROOT.is_dir():
        return None
    versions = sorted((p.name for p in CONFIG_ROOT.iterdir()), key=lambda v: float(v))
    return versions[-1] if versions else None


def pg_up() -> bool:
    try:
        with psycopg.connect(PG_SERVER.rstrip("/") + "/postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def pg_ctl(version: str, action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        timeout=120,
        capture_output=True,
    )


class Postgres:
    """The local cluster, restarted or stopped for a while on demand."""

    def __init__(self, version: str) -> None:
        self.version = version

    def restart(self) -> None:
        pg_ctl(self.version, "restart")
        self.wait_up()

    def outage(self, seconds: float) -> None:
        pg_ctl(self.version, "stop")
        time.sleep(seconds)
        pg_ctl(self.version, "start")
        self.wait_up()

    def wait_up(self) -> None:
        wait_for(pg_up, 60, "Postgres to accept connections again", interval=0.2)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """Control of the local cluster; it is running again at teardown, whatever happened."""
    version = cluster_version()
    if version is None:
        pytest.skip("needs a local Postgres cluster managed by pg_ctlcluster")
    try:
        yield Postgres(version)
    finally:
        if not pg_up():
            pg_ctl(version, "start")
            wait_for(pg_up, 60, "Postgres to come back at teardown", interval=0.2)


@pytest.mark.parametrize(
    "down_for",
    [
        pytest.param(0, id="restart"),
        # Longer than the claim and lease TTLs (2 s): holdings lapse while nobody can
        # renew them, and the attempts that were running must be counted and retried.
        pytest.param(3.0, id="three-second-outage"),
    ],
)
def test_postgres_goes_away_while_runs_are_in_flight(
    lab: Lab, postgres: Postgres, down_for: float
) -> None:
    """Every activity here may take 3 attempts: an attempt whose claim lapses while
    the database is away (its worker could not renew it) may be taken over and
    counted, so with a single attempt a run could fail depending on timing."""
    a, b = lab.workers(("a", {"beat": True}), ("b", {}))
    client = lab.client()
    key = uuid.uuid4().hex
    working = client.fan_out.delay(key, 4, 1.0, 10.0)
    chained = client.chain.delay(40, 3)  # a busy run: always mid-replay or mid-activity
    sleeping = client.sleeper.delay(1.0)
    journey = client.journey.delay(f"{key}-j", 0.5, 3)
    journey.signal("early", "first")
    wait_for(
        lambda: client.calls(f"{key}-0") >= 1 and len(chained.history()) >= 6,
        20,
        "activities to be running and the chain under way",
    )

    if down_for:
        postgres.outage(down_for)
    else:
        postgres.restart()

    wait_for(lambda: has_event(journey, "signal_awaited", "approve"), 60, "the approve await")
    journey.signal("approve", "yes")
    assert working.result(timeout=60) == [0, 1, 2, 3]
    assert chained.result(timeout=60) == sum(range(40))
    assert sleeping.result(timeout=60) >= 1.0
    assert journey.result(timeout=60) == {
        "doubled": 6, "early": "first", "approval": "yes", "parallel": [0, 1, 4],
    }  # fmt: skip
    for handle, activities in ((working, 4), (chained, 40), (sleeping, 0), (journey, 5)):
        assert_journal(handle.history(), activities)
        assert lab.run_row(handle.run_id)["wake_at"] is None

    # The same worker processes serve new work on fresh connections.
    assert a.is_running() and b.is_running()
    assert client.chain.delay(3).result(timeout=30) == 3


def test_a_result_finished_while_postgres_is_down_is_not_lost(lab: Lab, postgres: Postgres) -> None:
    """The body (1 attempt, 30 s timeout) finishes while the database is unreachable
    for 3 s. It did its work; the journal must still get its result once Postgres is
    back, not count the attempt as failed."""
    lab.workers(("a", {"beat": True}), ("b", {}))
    client = lab.client()
    key = uuid.uuid4().hex
    handle = client.single.delay(key, 1.0, 30.0, 1)
    wait_for(lambda: client.calls(key) == 1, 20, "the body to start")

    postgres.outage(3.0)  # the body returns about 1 s into it

    assert handle.result(timeout=30) == "done"
    assert_journal(handle.history(), activities=1)
    assert client.calls(key) >= 1
