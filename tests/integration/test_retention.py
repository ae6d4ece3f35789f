"""Retention: finished runs past the age go, with every row they own; nothing else does.

Each test gets an empty database of its own and writes runs straight into it, with
``completed_at`` set back, so no worker is needed: upkeep and ``cx.prune`` are called
directly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import Celery
from click.testing import CliRunner, Result
from sqlalchemy import Connection, text

from continuum_celery import Continuum
from continuum_celery.cli.context import Settings
from continuum_celery.cli.root import cli
from continuum_celery.journal.db import ConfigurationError
from tests.integration.databases import fresh_database

DAY = 86400.0
FINISHED = ("completed", "failed", "cancelled", "terminated", "continued")


@pytest.fixture
def cx(database_url: str, broker_url: str) -> Iterator[Continuum]:
    with fresh_database(database_url, "cx_retention") as url:
        app = Celery("retention", broker=broker_url, set_as_current=False)
        engine = Continuum(app, database_url=url, retention=timedelta(days=30))
        engine.migrate()
        yield engine
        engine.db.dispose()


def add_run(
    conn: Connection,
    run_id: str,
    state: str,
    days_ago: float | None = None,
    parent: str | None = None,
    chain: str | None = None,
) -> None:
    """A run finished ``days_ago`` (None: not finished) with one row in every table
    a run owns."""
    task_id = str(uuid.uuid4())
    params = {"id": run_id, "state": state, "age": days_ago, "parent": parent,
              "chain": chain, "task": task_id}  # fmt: skip
    for statement in _OWNED_ROWS:
        conn.execute(text(statement), params)


_OWNED_ROWS = (
    "INSERT INTO cx_runs (id, workflow, state, parent_run_id, correlation_id, completed_at)"
    " VALUES (:id, 'kept', :state, :parent, :chain,"
    " now() - make_interval(days => CAST(:age AS integer)))",
    "INSERT INTO cx_events (run_id, seq, type) VALUES (:id, 1, 'run_started')",
    "INSERT INTO cx_tasks (id, run_id, command_id, activity, timeout, retry, state)"
    " VALUES (CAST(:task AS uuid), :id, 'a:0', 'step', 60, '{}', 'completed')",
    "INSERT INTO cx_attempts (task_id, attempt, claim_token, outcome)"
    " VALUES (CAST(:task AS uuid), 1, 1, 'completed')",
    "INSERT INTO cx_waits (run_id, command_id, kind, resolved) VALUES (:id, 'w:0', 'timer', true)",
    "INSERT INTO cx_signals (run_id, name, consumed) VALUES (:id, 'go', true)",
    "INSERT INTO cx_start_keys (namespace, workflow, idempotency_key, run_id)"
    " VALUES ('default', 'kept', :id, :id)",
    "INSERT INTO cx_activity_results (activity, idempotency_key, run_id) VALUES ('step', :id, :id)",
    "INSERT INTO cx_audit (run_id, action, actor) VALUES (:id, 'cancel', 'ops')",
)

_COUNT_OWNED = (
    "SELECT (SELECT count(*) FROM cx_runs WHERE id = :id)"
    " + (SELECT count(*) FROM cx_events WHERE run_id = :id)"
    " + (SELECT count(*) FROM cx_tasks WHERE run_id = :id)"
    " + (SELECT count(*) FROM cx_attempts a WHERE NOT EXISTS"
    " (SELECT 1 FROM cx_tasks t WHERE t.id = a.task_id AND t.run_id <> :id))"
    " + (SELECT count(*) FROM cx_waits WHERE run_id = :id)"
    " + (SELECT count(*) FROM cx_signals WHERE run_id = :id)"
    " + (SELECT count(*) FROM cx_start_keys WHERE run_id = :id)"
    " + (SELECT count(*) FROM cx_activity_results WHERE run_id = :id)"
    " + (SELECT count(*) FROM cx_audit WHERE run_id = :id)"
)


def owned(cx: Continuum, run_id: str) -> int:
    """Rows of ``run_id`` left in all tables (9 for a whole run), counting attempts
    whose task is gone as left behind."""
    with cx.db.engine.connect() as conn:
        return int(conn.execute(text(_COUNT_OWNED), {"id": run_id}).scalar_one())


def setup(cx: Continuum, *runs: tuple[str, str, float | None, str | None, str | None]) -> None:
    with cx.db.engine.begin() as conn:
        for run_id, state, age, parent, chain in runs:
            add_run(conn, run_id, state, age, parent, chain)


def test_old_finished_runs_go_with_everything_they_own(cx: Continuum) -> None:
    old = [(f"old-{state}", state, 40.0, None, None) for state in FINISHED]
    kept = [("young", "completed", 3.0, None, None), ("running", "running", None, None, None),
            ("blocked", "blocked", None, None, None)]  # fmt: skip
    setup(cx, *old, *kept)
    assert cx.prune() == len(FINISHED)
    assert [owned(cx, run[0]) for run in old] == [0] * len(FINISHED)
    assert [owned(cx, run[0]) for run in kept] == [9, 9, 9]
    assert cx.prune() == 0


def test_upkeep_deletes_and_reports_it(cx: Continuum, caplog: pytest.LogCaptureFixture) -> None:
    setup(cx, ("a", "completed", 31.0, None, None), ("b", "failed", 45.0, None, None),
          ("c", "completed", 29.0, None, None))  # fmt: skip
    with caplog.at_level(logging.INFO, logger="continuum_celery.upkeep"):
        report = cx.upkeep()
    assert report.runs_deleted == 2
    assert "deleted 2 finished run(s)" in caplog.text
    assert (owned(cx, "a"), owned(cx, "b"), owned(cx, "c")) == (0, 0, 9)


def test_upkeep_without_retention_keeps_everything(database_url: str, broker_url: str) -> None:
    with fresh_database(database_url, "cx_retention") as url:
        app = Celery("retention-off", broker=broker_url, set_as_current=False)
        keeper = Continuum(app, database_url=url)
        keeper.migrate()
        setup(keeper, ("ancient", "completed", 4000.0, None, None))
        assert keeper.upkeep().runs_deleted == 0
        assert owned(keeper, "ancient") == 9
        with pytest.raises(ConfigurationError):
            keeper.prune()
        assert keeper.prune(older_than=timedelta(days=1)) == 1
        keeper.db.dispose()


def test_finished_child_of_a_live_parent_is_kept(cx: Continuum) -> None:
    setup(
        cx,
        ("live-parent", "running", None, None, None),
        ("child-of-live", "completed", 40.0, "live-parent", None),
        ("done-parent", "completed", 40.0, None, None),
        ("child-of-done", "completed", 40.0, "done-parent", None),
        ("parent-of-live", "cancelled", 40.0, None, None),
        ("live-child", "blocked", None, "parent-of-live", None),
    )
    assert cx.prune() == 2
    assert owned(cx, "child-of-live") == 9
    assert owned(cx, "parent-of-live") == 9
    assert (owned(cx, "done-parent"), owned(cx, "child-of-done")) == (0, 0)


_TIP_ENDED = (
    "UPDATE cx_runs SET state = 'completed', completed_at = now() - interval '35 days'"
    " WHERE id = 'tip'"
)


def test_continued_runs_stay_while_their_chain_is_live(cx: Continuum) -> None:
    setup(
        cx,
        ("first", "continued", 50.0, None, None),
        ("second", "continued", 40.0, None, "first"),
        ("tip", "running", None, None, "first"),
    )
    assert cx.prune() == 0
    with cx.db.engine.begin() as conn:
        conn.execute(text(_TIP_ENDED))
    assert cx.prune() == 3
    assert [owned(cx, r) for r in ("first", "second", "tip")] == [0, 0, 0]


def test_a_batch_is_bounded_and_oldest_first(cx: Continuum) -> None:
    setup(cx, *[(f"r{days}", "completed", float(days), None, None) for days in range(31, 38)])
    assert cx.prune(batch=3) == 3
    assert [owned(cx, f"r{days}") for days in (37, 36, 35, 34)] == [0, 0, 0, 9]
    assert cx.prune(batch=3) == 3
    assert cx.prune(batch=3) == 1
    assert cx.prune(batch=3) == 0


def test_prune_with_its_own_age(cx: Continuum) -> None:
    setup(cx, ("week", "completed", 7.0, None, None), ("day", "completed", 0.0, None, None))
    assert cx.prune(older_than=timedelta(days=5)) == 1
    assert cx.prune(older_than=3 * DAY) == 0
    assert (owned(cx, "week"), owned(cx, "day")) == (0, 9)


@pytest.mark.parametrize(
    ("retention", "error"),
    [
        (0, ConfigurationError),
        (-5.0, ConfigurationError),
        (timedelta(0), ConfigurationError),
        (float("inf"), ConfigurationError),
        (float("nan"), ConfigurationError),
        ("30 days", TypeError),
        (True, TypeError),
    ],
)
def test_retention_must_be_a_positive_age(
    database_url: str, broker_url: str, retention: object, error: type[Exception]
) -> None:
    app = Celery("retention-bad", broker=broker_url, set_as_current=False)
    with pytest.raises(error):
        Continuum(app, database_url=database_url, retention=retention)  # type: ignore[arg-type]


def test_prune_refuses_a_bad_batch(cx: Continuum) -> None:
    with pytest.raises(ConfigurationError):
        cx.prune(batch=0)
    with pytest.raises(TypeError):
        cx.prune(batch=2.5)  # type: ignore[arg-type]


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=Settings())


def test_prune_command_deletes_past_the_age(cx: Continuum) -> None:
    setup(cx, *[(f"p{days}", "completed", float(days), None, None) for days in (2, 8, 9, 10)])
    url = cx.db.engine.url.render_as_string(hide_password=False)
    one = run_cli("prune", "--database-url", url, "--older-than", "7d", "--batch", "1")
    assert (one.exit_code, one.output) == (0, "deleted 1 run\n")
    rest = run_cli("prune", "--database-url", url, "--older-than", "168h", "--all", "--batch", "1")
    assert (rest.exit_code, rest.output) == (0, "deleted 2 runs\n")
    assert [owned(cx, f"p{days}") for days in (2, 8, 9, 10)] == [9, 0, 0, 0]


@pytest.mark.parametrize("args", [(), ("--older-than", "soon"), ("--older-than", "0s")])
def test_prune_command_refuses_without_a_positive_age(cx: Continuum, args: tuple[str, ...]) -> None:
    url = cx.db.engine.url.render_as_string(hide_password=False)
    done = run_cli("prune", "--database-url", url, *args)
    assert done.exit_code == 2, done.output
