"""Upkeep fires a batch of due schedules set by set, on real Postgres and a clock
the test sets: a fixed number of statements per pass however many schedules are
due, with every overlap policy, open-run chain and scope still honoured."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import text

from continuum_celery import Continuum
from continuum_celery.journal import firing, firing_batch, firing_steps, lifecycle, store
from tests.integration.databases import fresh_database

MINUTE = timedelta(minutes=1)
WF = "scheduled.batch"
SCOPE = "batches"
CONTINUED = (
    "UPDATE cx_runs SET state = 'continued', next_run_id = :n, completed_at = now() WHERE id = :id"
)
SCOPED_RUNS = (
    "SELECT id, scope, workflow, version, attributes, wake_at, args FROM cx_runs"
    " WHERE id LIKE 'sched:scoped-%'"
)


@pytest.fixture(scope="module")
def cx(database_url: str, broker_url: str) -> Iterator[Continuum]:
    with fresh_database(database_url, "cx_schedule_batches") as url:
        app = Celery("schedule-batches", broker=broker_url, set_as_current=False)
        app.conf.task_default_queue = "schedule-batch-tests"  # nobody consumes: runs stay open
        engine = Continuum(app, database_url=url, scope=SCOPE)
        engine.migrate()
        yield engine
        engine.db.dispose()


def query(cx: Continuum, sql: str, **params: Any) -> list[Any]:
    with cx.db.engine.begin() as conn:
        return list(conn.execute(text(sql), params))


def run_ids(cx: Continuum, schedule_id: str) -> list[str]:
    sql = "SELECT id FROM cx_runs WHERE attributes ->> 'schedule_id' = :s ORDER BY created_at"
    return [row.id for row in query(cx, sql, s=schedule_id)]


def create(cx: Continuum, prefix: str, count: int, overlap: str = "allow_all") -> datetime:
    for i in range(count):
        cx.schedules.create(f"{prefix}-{i:03d}", WF, "@every 1m", overlap=overlap)
    return cx.schedules.describe(f"{prefix}-000").next_fire_times[0]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every journal statement the firing modules run, counted on its way to Postgres."""
    seen: Counter[str] = Counter()
    for module in (firing, firing_batch, firing_steps, lifecycle, store):
        monkeypatch.setattr(module, "execute", _counting(module.execute, seen))
    return seen


def _counting(execute: Callable[..., Any], seen: Counter[str]) -> Callable[..., Any]:
    def counted(conn: Any, statement: Any, params: Any = None) -> Any:
        seen[statement.text.split()[0]] += 1
        return execute(conn, statement, params)

    return counted


def test_a_pass_runs_as_many_statements_for_60_due_schedules_as_for_3(
    cx: Continuum, statements: Counter[str]
) -> None:
    few = create(cx, "few", 3)
    cx.schedules.fire(few + MINUTE)  # two ticks each: 6 runs
    three = sum(statements.values())
    statements.clear()
    many = create(cx, "many", 60)
    cx.schedules.fire(many + MINUTE)  # 120 runs
    assert sum(statements.values()) == three <= 6, statements
    assert statements["INSERT"] == 1 and statements["UPDATE"] == 1, statements
    assert all(len(run_ids(cx, f"many-{i:03d}")) == 2 for i in range(60))
    assert cx.schedules.describe("many-059").actions == 2


def test_runs_started_in_a_batch_carry_the_schedules_scope_and_tick(cx: Continuum) -> None:
    tick = create(cx, "scoped", 2)
    cx.schedules.fire(tick)
    rows = query(cx, SCOPED_RUNS)
    assert len(rows) == 2
    for row in rows:
        assert (row.scope, row.workflow, row.version, row.args) == (SCOPE, WF, 0, [])
        assert row.id == f"sched:{row.attributes['schedule_id']}:{row.attributes['scheduled_time']}"
        assert datetime.fromisoformat(row.attributes["scheduled_time"]) == tick
        assert row.wake_at is not None, "a started run is marked for a wakeup"


def test_one_pass_mixes_policies_open_runs_and_continued_chains(cx: Continuum) -> None:
    """In the same pass: a skip schedule whose run continued into an open one skips,
    one whose chain ended starts, terminate_other ends its open run and starts,
    allow_all starts over an open run."""
    tick = create(cx, "open", 1, "skip")
    for prefix, overlap in (("ended", "skip"), ("term", "terminate_other"), ("all", "allow_all")):
        create(cx, prefix, 1, overlap)
    cx.schedules.fire(tick)  # each starts its first run
    _continue_into_new_run(cx, run_ids(cx, "open-000")[0], "open-next")
    _continue_into_new_run(cx, run_ids(cx, "ended-000")[0], "ended-next")
    cx.terminate("ended-next", "done", actor="test")
    cx.schedules.fire(tick + MINUTE)
    assert len(run_ids(cx, "open-000")) == 1
    assert cx.schedules.describe("open-000").overlap_skipped == 1
    assert len(run_ids(cx, "ended-000")) == 2
    assert len(run_ids(cx, "all-000")) == 2
    first, second = run_ids(cx, "term-000")
    states = dict(
        query(cx, "SELECT id, state FROM cx_runs WHERE id IN (:a, :b)", a=first, b=second)
    )
    assert states[second] == "running" and states[first] not in ("running", "blocked"), states


def _continue_into_new_run(cx: Continuum, run_id: str, next_id: str) -> None:
    """The run continued as new: ``next_id`` carries the chain on, still open."""
    cx.start(WF, run_id=next_id)
    with cx.db.engine.begin() as conn:
        conn.execute(text(CONTINUED), {"n": next_id, "id": run_id})
