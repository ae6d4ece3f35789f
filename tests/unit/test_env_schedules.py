"""Schedules in WorkflowEnvironment: ticks fire as virtual time skips ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.errors import InvalidSchedule, ScheduleExists, UnknownWorkflow
from continuum_celery.journal.firing import tick_run_id
from continuum_celery.testing import WorkflowEnvironment

START = datetime(2030, 1, 1, tzinfo=UTC)


def app() -> Continuum:
    cx = Continuum(Celery("ticks", set_as_current=False), "postgresql://127.0.0.1:1/none",
                   worker_upkeep=False)  # fmt: skip

    @cx.schedule("@hourly", schedule_id="hourly")
    @cx.workflow(name="ticks.report")
    def report(label: str = "r") -> str:
        return f"{label} at {workflow.now().isoformat()}"

    @cx.workflow(name="ticks.slow")
    def slow(hours: float) -> str:
        workflow.sleep(hours * 3600)
        return "done"

    return cx


@pytest.fixture
def env() -> WorkflowEnvironment:
    return WorkflowEnvironment(app(), start=START)


def test_declared_hourly_schedule_starts_24_runs_in_a_day(env: WorkflowEnvironment) -> None:
    env.sleep(timedelta(days=1))
    runs = env.schedules.runs("hourly")
    ticks = [START + timedelta(hours=h) for h in range(1, 25)]
    assert runs == [tick_run_id("hourly", tick) for tick in ticks]
    first = env.get_run(runs[0])
    assert first.state == "completed" and first.result == "r at 2030-01-01T01:00:00+00:00"
    assert first.attributes == {"schedule_id": "hourly", "scheduled_time": "2030-01-01T01:00:00Z"}


def test_skip_overlap_starts_fewer_while_a_run_is_open(env: WorkflowEnvironment) -> None:
    env.schedules.create("slow", "ticks.slow", "@every 1h", args=[2.5], overlap="skip")
    env.sleep(timedelta(hours=10))
    runs = [env.get_run(run_id) for run_id in env.schedules.runs("slow")]
    # A 2.5h run takes ticks 1, 4, 7, 10; the two ticks inside each run are skipped.
    assert [r.attributes["scheduled_time"][11:16] for r in runs] == [
        "01:00", "04:00", "07:00", "10:00"]  # fmt: skip
    assert [r.state for r in runs] == ["completed"] * 3 + ["running"]
    assert env.schedules.get("slow").skipped == 6


def test_allow_all_starts_every_tick(env: WorkflowEnvironment) -> None:
    env.schedules.create("all", "ticks.slow", "@every 1h", args=[2.5], overlap="allow_all")
    env.sleep(timedelta(hours=10))
    assert len(env.schedules.runs("all")) == 10


def test_buffer_one_starts_the_remembered_tick_when_the_run_ends(
    env: WorkflowEnvironment,
) -> None:
    env.schedules.create("buf", "ticks.slow", "@every 1h", args=[1.5], overlap="buffer_one")
    env.sleep(timedelta(hours=4))
    runs = [env.get_run(run_id) for run_id in env.schedules.runs("buf")]
    assert [(r.attributes["scheduled_time"][11:16], r.created_at.hour) for r in runs] == [
        ("01:00", 1), ("02:00", 2), ("03:00", 4)]  # fmt: skip


def test_cron_in_paris_across_the_spring_dst_change() -> None:
    env = WorkflowEnvironment(app(), start=datetime(2030, 3, 29, 12, tzinfo=UTC))
    env.schedules.create("night", "ticks.report", "30 2 * * *", tz="Europe/Paris")
    env.sleep(timedelta(days=4))
    paris = ZoneInfo("Europe/Paris")
    starts = [
        env.get_run(run_id).created_at.astimezone(paris) for run_id in env.schedules.runs("night")
    ]
    # 02:30 does not exist on 2030-03-31 (clocks jump 02:00 -> 03:00): it fires at 03:00.
    assert [s.strftime("%m-%d %H:%M%z") for s in starts] == [
        "03-30 02:30+0100", "03-31 03:00+0200", "04-01 02:30+0200", "04-02 02:30+0200"]  # fmt: skip


def test_schedule_ticks_do_not_keep_a_waiting_run_driving(env: WorkflowEnvironment) -> None:
    handle = env.start("ticks.slow", 0.5)
    assert handle.result() == "done"
    assert env.now() == START + timedelta(minutes=30) and env.schedules.runs("hourly") == []


def test_bad_schedules_are_refused_and_nothing_kept(env: WorkflowEnvironment) -> None:
    with pytest.raises(ScheduleExists):
        env.schedules.create("hourly", "ticks.report", "@hourly")
    with pytest.raises(UnknownWorkflow):
        env.schedules.create("x", "ticks.nope", "@hourly")
    with pytest.raises(InvalidSchedule):
        env.schedules.create("x", "ticks.report", "every now and then")
    with pytest.raises(InvalidSchedule):
        env.schedules.create("x", "ticks.report", "@hourly", overlap="sometimes")
    with pytest.raises(TypeError, match="unknown options: colour"):
        env.schedules.create("x", "ticks.report", "@hourly", colour="red")
    assert sorted(env.schedules.by_id) == ["hourly"]


@pytest.mark.parametrize(("policy", "ended"), [("terminate_other", "terminated"),
                                               ("cancel_other", "cancelled")])  # fmt: skip
def test_a_tick_ends_the_open_run_under_cancel_or_terminate_other(
    env: WorkflowEnvironment, policy: str, ended: str
) -> None:
    env.schedules.create("end", "ticks.slow", "@every 1h", args=[2.5], overlap=policy)
    env.sleep(timedelta(hours=4))
    runs = [env.get_run(run_id) for run_id in env.schedules.runs("end")]
    assert [(r.state, r.created_at.hour) for r in runs] == [
        (ended, 1), (ended, 2), (ended, 3), ("running", 4)]  # fmt: skip
    ended_by = [e.data.get("by") for e in env.journal.runs.get(runs[0].run_id).history]
    assert "schedule end" in ended_by
