"""Schedules on real Postgres, on a clock the test sets: ``cx.schedules.fire(now)``
is the pass upkeep makes, so ticks minutes apart take no minutes to test.

No worker runs here: started runs stay open until the test ends them (terminate),
which is what the overlap policies need to see.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import text

from continuum_celery import Continuum
from continuum_celery.errors import (
    InvalidSchedule,
    NotSerializable,
    ScheduleExists,
    ScheduleNotFound,
)
from continuum_celery.journal.db import Database
from continuum_celery.journal.firing import ScheduleFiring, tick_run_id
from continuum_celery.journal.leader import UpkeepLeader
from continuum_celery.runtime.schedules import fire_schedules
from tests.integration.databases import fresh_database

MINUTE = timedelta(minutes=1)
WF = "scheduled.report"


@pytest.fixture(scope="module")
def cx(database_url: str, broker_url: str) -> Iterator[Continuum]:
    with fresh_database(database_url, "cx_schedules") as url:
        app = Celery("schedules", broker=broker_url, set_as_current=False)
        app.conf.task_default_queue = "schedule-tests"  # nobody consumes: runs stay open
        engine = Continuum(app, database_url=url)
        engine.migrate()
        yield engine
        engine.db.dispose()


def first_tick(cx: Continuum, schedule_id: str) -> datetime:
    return cx.schedules.describe(schedule_id).next_fire_times[0]


def runs_of(cx: Continuum, schedule_id: str) -> list[Any]:
    page = cx.list_runs(f'attributes.schedule_id = "{schedule_id}"', limit=500, order="created_at")
    return page.runs


def count(cx: Continuum, sql: str, **params: Any) -> Any:
    with cx.db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def fired(cx: Continuum, schedule_id: str, now: datetime) -> int:
    """One upkeep pass at ``now``: how many runs it started for this schedule (other
    tests' schedules share the database, and the pass fires theirs too)."""
    before = len(runs_of(cx, schedule_id))
    cx.schedules.fire(now)
    return len(runs_of(cx, schedule_id)) - before


def every_minute(cx: Continuum, schedule_id: str, overlap: str, **options: Any) -> datetime:
    cx.schedules.create(schedule_id, WF, "@every 1m", overlap=overlap, **options)
    return first_tick(cx, schedule_id)


# --- exactly once ---------------------------------------------------------------------


def test_three_racing_upkeeps_start_each_tick_exactly_once(cx: Continuum) -> None:
    for i in range(12):
        cx.schedules.create(f"race-{i}", WF, "@every 1m", overlap="allow_all")
    now = first_tick(cx, "race-0") + 4 * MINUTE + timedelta(seconds=1)  # 5 ticks each
    racers = [Database(cx.db.dsn, pool_size=2) for _ in range(3)]
    barrier = threading.Barrier(3)

    def race(db: Database) -> int:
        firing = ScheduleFiring(db)
        barrier.wait()
        return sum(fire_schedules(firing, cx.outbox, now, batch=3) for _ in range(8))

    with ThreadPoolExecutor(3) as pool:
        started = list(pool.map(race, racers))
    assert sum(started) >= 12 * 5, started
    racing = "SELECT count({}) FROM cx_runs WHERE attributes ->> 'schedule_id' LIKE 'race-%'"
    assert count(cx, racing.format("*")) == 60
    assert count(cx, racing.format("DISTINCT attributes")) == 60
    assert all(cx.schedules.describe(f"race-{i}").actions == 5 for i in range(12))
    cx.schedules.fire(now)
    assert count(cx, racing.format("*")) == 60, "a later pass finds nothing due"
    for db in racers:
        db.dispose()


def test_one_call_drains_a_flood_on_two_lanes_each_tick_once(cx: Continuum) -> None:
    """A full pass means more are due: the rest go on two connections at once."""
    for i in range(25):
        cx.schedules.create(f"flood-{i}", WF, "@every 1m", overlap="allow_all")
    now = first_tick(cx, "flood-0") + timedelta(seconds=1)
    firing = ScheduleFiring(cx.db)
    started = fire_schedules(firing, cx.outbox, now, batch=4, lanes=2)
    flooding = "SELECT count({}) FROM cx_runs WHERE attributes ->> 'schedule_id' LIKE 'flood-%'"
    assert count(cx, flooding.format("*")) == 25
    assert count(cx, flooding.format("DISTINCT attributes")) == 25
    assert started >= 25  # other tests' schedules due by then fire too
    assert fire_schedules(firing, cx.outbox, now, batch=4, lanes=2) == 0


def test_a_stale_cursor_cannot_start_a_tick_twice(cx: Continuum) -> None:
    """The second lock: a tick's run id is derived, so replaying a cursor is harmless."""
    first = every_minute(cx, "stale", "allow_all")
    assert fired(cx, "stale", first + MINUTE) == 2
    with cx.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE cx_schedules SET next_tick = :t, next_fire_at = :t WHERE id = 'stale'"),
            {"t": first},
        )
    assert fired(cx, "stale", first + MINUTE) == 0
    assert len(runs_of(cx, "stale")) == 2 and cx.schedules.describe("stale").actions == 2


def test_a_schedule_that_cannot_fire_is_deferred_and_the_rest_fire(cx: Continuum) -> None:
    """A row this code cannot read (say, written by a newer version) spoils only itself."""
    first = every_minute(cx, "healthy", "allow_all")
    with cx.db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO cx_schedules (id, workflow, specs, catchup_window, next_tick,"
                 " next_fire_at) VALUES ('poison', :wf, '[\"@fortnightly\"]', 60, :t, :t)"),
            {"wf": WF, "t": first},
        )  # fmt: skip
    assert fired(cx, "healthy", first) == 1
    deferred = count(cx, "SELECT next_fire_at FROM cx_schedules WHERE id = 'poison'")
    assert deferred >= first + timedelta(seconds=29) and runs_of(cx, "poison") == []


def test_the_upkeep_leader_sleeps_only_until_the_next_fire_time(cx: Continuum) -> None:
    first = every_minute(cx, "wake", "skip")
    due_in = UpkeepLeader(cx.db).next_wait_in()  # no timers here: only schedules count
    assert due_in is not None
    assert due_in <= (first - datetime.now(UTC)).total_seconds() + 0.5


def test_started_runs_carry_their_schedule_and_tick(cx: Continuum) -> None:
    first = every_minute(cx, "attrs", "skip")
    cx.schedules.update("attrs", args=["2026-01-01"])
    cx.schedules.fire(first)
    (run,) = runs_of(cx, "attrs")
    assert run.run_id == tick_run_id("attrs", first)
    tick = first.isoformat().replace("+00:00", "Z")
    assert run.attributes == {"schedule_id": "attrs", "scheduled_time": tick}
    assert run.workflow == WF and run.args == ["2026-01-01"]
    recent = cx.schedules.describe("attrs").recent_actions
    assert [a["run_id"] for a in recent] == [run.run_id]


def test_recent_actions_keep_the_last_ten_in_order(cx: Continuum) -> None:
    """Passes, a trigger and a backfill append; the row keeps the newest ten."""
    first = every_minute(cx, "recent", "allow_all")
    for minute in range(6):  # one pass a minute, then one that catches up five ticks
        cx.schedules.fire(first + minute * MINUTE)
    cx.schedules.fire(first + 10 * MINUTE)
    triggered = cx.schedules.trigger("recent")
    ids = [run.run_id for run in runs_of(cx, "recent")]
    assert len(ids) == 12 and ids[-1] == triggered
    recent = cx.schedules.describe("recent").recent_actions
    assert [a["run_id"] for a in recent] == ids[-10:]
    assert [a["via"] for a in recent][-2:] == ["tick", "trigger"]


# --- catch-up ---------------------------------------------------------------------------


def test_catch_up_after_being_down_for_three_ticks(cx: Continuum) -> None:
    first = every_minute(cx, "all", "allow_all")
    every_minute(cx, "one", "skip")
    cx.schedules.fire(first + 2 * MINUTE + timedelta(seconds=5))
    assert [r.attributes["scheduled_time"] for r in runs_of(cx, "all")] == [
        (first + i * MINUTE).isoformat().replace("+00:00", "Z") for i in range(3)]  # fmt: skip
    assert len(runs_of(cx, "one")) == 1
    assert cx.schedules.describe("one").overlap_skipped == 2


def test_ticks_older_than_the_catchup_window_are_counted_missed(cx: Continuum) -> None:
    first = every_minute(cx, "window", "allow_all", catchup_window=90)
    cx.schedules.fire(first + 4 * MINUTE)
    described = cx.schedules.describe("window")
    assert described.missed_catchup == 3 and described.actions == 2
    assert described.next_fire_times[0] == first + 5 * MINUTE


# --- overlap policies ---------------------------------------------------------------------


def end(cx: Continuum, schedule_id: str) -> None:
    """The open run ends (as if it finished): the schedule sees no run open."""
    for run in runs_of(cx, schedule_id):
        if run.state == "running":
            cx.terminate(run.run_id, "the test ends it")


def states(cx: Continuum, schedule_id: str) -> list[str]:
    return [r.state for r in runs_of(cx, schedule_id)]


def test_skip_starts_nothing_while_a_run_is_open(cx: Continuum) -> None:
    first = every_minute(cx, "skip", "skip")
    cx.schedules.fire(first + MINUTE)
    assert states(cx, "skip") == ["running"]
    end(cx, "skip")
    cx.schedules.fire(first + 2 * MINUTE)
    assert states(cx, "skip") == ["terminated", "running"]
    assert cx.schedules.describe("skip").overlap_skipped == 1


def test_buffer_one_runs_one_remembered_tick_when_the_run_ends(cx: Continuum) -> None:
    first = every_minute(cx, "b1", "buffer_one")
    cx.schedules.fire(first + 2 * MINUTE)
    d = cx.schedules.describe("b1")
    assert d.buffered == [first + MINUTE] and d.buffer_dropped == 1 and d.actions == 1
    end(cx, "b1")
    cx.schedules.fire(first + 2 * MINUTE)
    assert runs_of(cx, "b1")[-1].run_id == tick_run_id("b1", first + MINUTE)
    assert cx.schedules.describe("b1").buffered == []


def test_buffer_all_runs_every_remembered_tick_back_to_back(cx: Continuum) -> None:
    first = every_minute(cx, "ball", "buffer_all")
    cx.schedules.fire(first + 2 * MINUTE)
    assert cx.schedules.describe("ball").buffered == [first + MINUTE, first + 2 * MINUTE]
    for expected in (first + MINUTE, first + 2 * MINUTE):
        end(cx, "ball")
        cx.schedules.fire(first + 2 * MINUTE)
        assert runs_of(cx, "ball")[-1].run_id == tick_run_id("ball", expected)
    assert cx.schedules.describe("ball").buffer_dropped == 0


def test_cancel_other_asks_the_open_run_to_cancel_then_starts(cx: Continuum) -> None:
    first = every_minute(cx, "co", "cancel_other")
    cx.schedules.fire(first + MINUTE)
    (open_run,) = runs_of(cx, "co")
    assert cx.get_run(open_run.run_id).cancel_requested_at is not None
    assert cx.schedules.describe("co").buffered == [first + MINUTE]
    end(cx, "co")  # the cancellation completes
    cx.schedules.fire(first + MINUTE)
    assert len(runs_of(cx, "co")) == 2


def test_terminate_other_ends_the_open_run_and_starts_at_once(cx: Continuum) -> None:
    first = every_minute(cx, "to", "terminate_other")
    cx.schedules.fire(first)
    cx.schedules.fire(first + MINUTE)
    assert states(cx, "to") == ["terminated", "running"]
    assert "overlap policy terminate_other" in (runs_of(cx, "to")[0].error or "")


def test_allow_all_starts_whatever_is_open(cx: Continuum) -> None:
    first = every_minute(cx, "aa", "allow_all")
    cx.schedules.fire(first)
    cx.schedules.fire(first + MINUTE)
    assert states(cx, "aa") == ["running", "running"]


# --- backfill, trigger, pause -------------------------------------------------------------


def test_backfill_runs_each_tick_of_the_range_once(cx: Continuum) -> None:
    first = every_minute(cx, "bf", "allow_all")
    start, stop = first - 10 * MINUTE, first - 5 * MINUTE
    started = cx.schedules.backfill("bf", start, stop)
    assert started == [tick_run_id("bf", start + i * MINUTE) for i in range(5)]
    assert cx.schedules.backfill("bf", start, stop) == [], "a tick that ran does not run again"
    assert cx.schedules.backfill("bf", start, first + MINUTE) == [
        tick_run_id("bf", first - 5 * MINUTE + i * MINUTE) for i in range(6)]  # fmt: skip
    assert fired(cx, "bf", first) == 0, "the tick backfilled is the tick upkeep would start"
    assert len(runs_of(cx, "bf")) == 11


def test_backfill_goes_through_the_overlap_policy(cx: Continuum) -> None:
    first = every_minute(cx, "bfb", "buffer_all")
    started = cx.schedules.backfill("bfb", first - 3 * MINUTE, first)
    assert len(started) == 1 and len(cx.schedules.describe("bfb").buffered) == 2
    assert len(cx.schedules.backfill("bfb", first - 3 * MINUTE, first, overlap="allow_all")) == 2


def test_trigger_starts_one_run_now_under_the_policy(cx: Continuum) -> None:
    every_minute(cx, "tr", "skip")
    run_id = cx.schedules.trigger("tr")
    assert run_id is not None and run_id.startswith("sched:tr:trigger:")
    assert cx.schedules.trigger("tr") is None, "skip: a run is open"
    assert cx.schedules.trigger("tr", overlap="allow_all") is not None
    assert cx.schedules.describe("tr").overlap_skipped == 1


def test_pause_and_unpause(cx: Continuum) -> None:
    first = every_minute(cx, "p", "allow_all")
    cx.schedules.pause("p", "database maintenance")
    d = cx.schedules.describe("p")
    assert d.schedule.paused and d.schedule.note == "database maintenance"
    assert fired(cx, "p", first + 3 * MINUTE) == 0
    cx.schedules.unpause("p", "maintenance over")
    d = cx.schedules.describe("p")
    assert not d.schedule.paused and d.schedule.note == "maintenance over"
    assert d.next_fire_times[0] == first, "ticks while paused are not run, nor counted missed"
    assert fired(cx, "p", first) == 1
    assert cx.schedules.describe("p").missed_catchup == 0


# --- definitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "options", "error", "says"),
    [
        ("61 * * * *", {}, InvalidSchedule, "Bad minute"),
        (["@hourly", "0 0 * *"], {}, InvalidSchedule, "4 fields"),
        ("@hourly", {"tz": "Europe/Atlantis"}, InvalidSchedule, "unknown time zone"),
        ("@hourly", {"overlap": "queue"}, InvalidSchedule, "overlap must be one of"),
        ("@hourly", {"catchup_window": 1}, InvalidSchedule, "catchup_window"),
        ("@hourly", {"args": [object()]}, NotSerializable, "arguments of schedule bad"),
    ],
)
def test_a_malformed_schedule_is_refused_and_nothing_written(
    cx: Continuum, spec: Any, options: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        cx.schedules.create("bad", WF, spec, **options)
    assert "bad" not in [s.schedule_id for s in cx.schedules.list()]
    assert count(cx, "SELECT count(*) FROM cx_schedules WHERE id = 'bad'") == 0


def test_create_update_delete(cx: Continuum) -> None:
    cx.schedules.create("cud", WF, ["0 9 * * MON-FRI", "@every 1h/15m"], tz="Europe/Paris")
    with pytest.raises(ScheduleExists):
        cx.schedules.create("cud", WF, "@hourly")
    before = cx.schedules.describe("cud").next_fire_times
    cx.schedules.update("cud", args=[1])
    assert cx.schedules.describe("cud").next_fire_times == before
    cx.schedules.update("cud", spec="@daily", tz="UTC")
    assert cx.schedules.get("cud").specs == ["@daily"]
    with pytest.raises(InvalidSchedule):
        cx.schedules.update("cud", spec="nonsense")
    assert cx.schedules.get("cud").specs == ["@daily"]
    cx.schedules.delete("cud")
    with pytest.raises(ScheduleNotFound):
        cx.schedules.describe("cud")


def test_a_declared_schedule_keeps_its_cursor_across_worker_starts(cx: Continuum) -> None:
    @cx.schedule("@every 1m", schedule_id="declared", overlap="allow_all")
    @cx.workflow(name="scheduled.declared")
    def declared() -> None: ...

    with pytest.raises(TypeError, match=r"goes above @cx\.workflow"):
        cx.schedule("@hourly")(lambda: None)  # type: ignore[arg-type]
    cx.schedules.apply_declared()
    first = first_tick(cx, "declared")
    cx.schedules.apply_declared()  # a second worker starts, later
    assert first_tick(cx, "declared") == first
    assert fired(cx, "declared", first + 2 * MINUTE) == 3, "ticks due while down are not lost"


# --- scopes -----------------------------------------------------------------------------


def test_each_apps_upkeep_fires_only_its_own_scopes_schedules(
    cx: Continuum, broker_url: str
) -> None:
    """Two apps on one database: the other app's pass leaves this app's schedule due,
    and a run a schedule starts belongs to the schedule's scope."""
    app = Celery("billing", broker=broker_url, set_as_current=False)
    billing = Continuum(app, database_url=cx.db.dsn, scope="billing")
    try:
        billing.schedules.create("billing-nightly", WF, "@every 1m", overlap="allow_all")
        due = first_tick(cx, "billing-nightly") + timedelta(seconds=1)
        assert fired(cx, "billing-nightly", due) == 0, "the default scope fired billing's"
        assert fired(billing, "billing-nightly", due) == 1
        scope = "SELECT scope FROM cx_runs WHERE attributes ->> 'schedule_id' = :s"
        assert count(cx, scope, s="billing-nightly") == "billing"
        cx.schedules.declared["billing-nightly"] = {"workflow": WF, "spec": "@every 5m"}
        with pytest.raises(ScheduleExists, match="another app's scope"):
            cx.schedules.apply_declared()  # at this app's worker start
        assert billing.schedules.get("billing-nightly").specs == ["@every 1m"]
    finally:
        cx.schedules.declared.pop("billing-nightly", None)
        billing.db.dispose()
