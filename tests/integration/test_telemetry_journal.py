"""What telemetry reads from the journal: each run's trace, and upkeep's gauges.

Driven through the journal directly: a run started with a context keeps it; a
child run (started by its parent's replay) and a successor find their ancestor's;
a run with none up its chain names the top run, whose id the trace is derived from.
Skipped schedule ticks are read from the schedules' own counters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import Celery
from prometheus_client import CollectorRegistry

from continuum_celery import Continuum
from continuum_celery.journal.db import Database
from continuum_celery.journal.gauges import read_backlog
from continuum_celery.journal.history import HistoryCache
from continuum_celery.journal.records import NewRun, TraceRoot
from continuum_celery.journal.store import RunStore
from continuum_celery.telemetry.metrics import Metrics
from tests.integration.databases import fresh_database

CARRIER = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def new_run(parent: str | None = None, context: dict[str, str] | None = None) -> NewRun:
    return NewRun(str(uuid.uuid4()), "shop.order", [], {}, parent_run_id=parent,
                  trace_context=context)  # fmt: skip


def started(runs: RunStore, run: NewRun) -> str:
    run_id, created = runs.start_run(run)
    assert created
    return run_id


def test_a_run_keeps_its_callers_context_and_its_children_inherit_it(
    journal_db: Database,
) -> None:
    runs = RunStore(journal_db, 30.0, HistoryCache())
    top = started(runs, new_run(context=CARRIER))
    child = started(runs, new_run(parent=top))
    grandchild = started(runs, new_run(parent=child))
    assert runs.trace_context(top) == TraceRoot(top, CARRIER, "shop.order")
    assert runs.trace_context(grandchild) == TraceRoot(top, CARRIER, "shop.order")


def test_a_chain_without_a_context_names_its_top_run(journal_db: Database) -> None:
    runs = RunStore(journal_db, 30.0, HistoryCache())
    top = started(runs, new_run())
    child = started(runs, new_run(parent=top))
    assert runs.trace_context(child) == TraceRoot(top, None, "shop.order")
    missing = str(uuid.uuid4())
    assert runs.trace_context(missing) == TraceRoot(missing, None, None)


def test_the_backlog_reads_from_an_empty_scope(journal_db: Database) -> None:
    backlog = read_backlog(journal_db, "nobody-here")
    assert (backlog.due_waits, backlog.lag, backlog.skipped) == (0, 0.0, {})


@pytest.fixture
def cx(database_url: str, broker_url: str) -> Iterator[Continuum]:
    with fresh_database(database_url, "cx_tel_sched") as url:
        app = Celery("tel-schedules", broker=broker_url, set_as_current=False)
        app.conf.task_default_queue = "tel-schedule-tests"  # nobody consumes: runs stay open
        engine = Continuum(app, database_url=url)
        engine.migrate()
        yield engine
        engine.db.dispose()


def test_skipped_schedule_ticks_and_due_timers_reach_the_gauges(cx: Continuum) -> None:
    cx.schedules.create("nightly", "shop.report", "@every 1m", overlap="skip")
    first = cx.schedules.describe("nightly").next_fire_times[0]
    for minutes in (1, 2, 3):  # four ticks due: one run starts and never ends
        cx.schedules.fire(first + timedelta(minutes=minutes))
    backlog = read_backlog(cx.db, cx.scope)
    assert backlog.skipped == {"shop.report": {"overlap": 3, "catchup": 0, "buffer": 0}}
    registry = CollectorRegistry()
    Metrics(registry).upkeep_swept(0.01, backlog)
    labels = {"workflow": "shop.report", "reason": "overlap"}
    assert registry.get_sample_value("continuum_schedule_ticks_skipped", labels) == 3
    assert registry.get_sample_value("continuum_due_timers") == backlog.due_waits
