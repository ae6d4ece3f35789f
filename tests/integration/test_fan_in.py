"""Fan-in on real workers: a gather's completions land without a replay each.

Every write to a run's row is counted by a trigger in this module's own database:
a completion the run's code cannot use yet (its gather still waits on others) is
*absorbed*, counting the run's ``awaiting`` down by one in the statement that
appends it; anything else (lease, replay commit, wake marker, end) is a run write.
Without absorption each of the N completions would be a replay commit.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator
from types import ModuleType

import pytest
from sqlalchemy import text

from tests.integration.checks import assert_sound, types, wait_for
from tests.integration.databases import fresh_database
from tests.integration.harness import WorkerFactory

APP = "tests.integration.apps.fanin"
WIDTH = 200

COUNT_RUN_WRITES = """
CREATE TABLE fanin_run_writes (run_id text NOT NULL, absorbed boolean NOT NULL);
CREATE FUNCTION fanin_count_run_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fanin_run_writes VALUES (NEW.id, NEW.awaiting = OLD.awaiting - 1
        AND NEW.last_seq = OLD.last_seq + 1 AND NEW.lease_token IS NOT DISTINCT FROM
        OLD.lease_token AND NEW.state = OLD.state);
    RETURN NEW;
END $$;
CREATE TRIGGER fanin_count_run_write AFTER UPDATE ON cx_runs
    FOR EACH ROW EXECUTE FUNCTION fanin_count_run_write();
"""


@pytest.fixture(scope="module")
def fanin_db(database_url: str) -> Iterator[str]:
    with fresh_database(database_url, "cx_fanin") as url:
        yield url


@pytest.fixture(scope="module")
def fanin(fanin_db: str, broker_url: str) -> ModuleType:
    os.environ["FANIN_DATABASE_URL"] = fanin_db
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    module = importlib.import_module(APP)
    module.cx.migrate()
    with module.cx.db.engine.begin() as conn:
        conn.execute(text(COUNT_RUN_WRITES))
    return module


def env(database: str, broker: str) -> dict[str, str]:
    return {"FANIN_DATABASE_URL": database, "CELERY_BROKER_URL": broker}


def run_writes(fanin: ModuleType, run_id: str) -> Counter[bool]:
    with fanin.cx.db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT absorbed FROM fanin_run_writes WHERE run_id = :id"), {"id": run_id}
        ).all()
    return Counter(bool(r.absorbed) for r in rows)


def assert_each_completed_once(fanin: ModuleType, run_id: str, width: int) -> None:
    history = fanin.cx.history(run_id)
    assert_sound(history)  # gap-free, one terminal event per activity
    completed = Counter(e.command_id for e in history if e.type == "activity_completed")
    assert len(completed) == width and set(completed.values()) == {1}
    assert types(history)[:width] == ["activity_scheduled"] * width, "one decision"


def test_a_gather_of_200_replays_its_run_a_handful_of_times(
    fanin: ModuleType, fanin_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    worker_factory(APP, concurrency=2, queues=["fanin"], env=env(fanin_db, broker_url))
    handle = fanin.gather_naps.delay(WIDTH, 0.0)
    assert handle.result(timeout=120) == list(range(WIDTH))
    assert_each_completed_once(fanin, handle.run_id, WIDTH)
    writes = run_writes(fanin, handle.run_id)
    # Every completion but the last is absorbed; the rest is the first lease, the
    # decision that fanned out, the last completion's replay and the run's end.
    assert writes[True] >= WIDTH - 5, writes
    assert writes[False] <= 10, writes


def test_a_worker_killed_mid_fan_in_leaves_one_completion_per_activity(
    fanin: ModuleType, fanin_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    first = worker_factory(APP, concurrency=2, queues=["fanin"], env=env(fanin_db, broker_url))
    handle = fanin.gather_naps.delay(WIDTH, 0.02)

    def completed() -> int:
        return types(handle.history()).count("activity_completed")

    wait_for(lambda: completed() >= WIDTH // 4, timeout=60, what="a quarter of the fan-in")
    first.kill()  # SIGKILL, mid fan-in: its claimed attempts are lost with it
    landed = completed()
    assert landed < WIDTH, "the fan-in finished before the kill"
    worker_factory(APP, concurrency=2, queues=["fanin"], env=env(fanin_db, broker_url))
    assert handle.result(timeout=120) == list(range(WIDTH))
    assert_each_completed_once(fanin, handle.run_id, WIDTH)
    writes = run_writes(fanin, handle.run_id)
    assert writes[True] >= WIDTH // 2 and writes[False] < WIDTH // 4, writes
