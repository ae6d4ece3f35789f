"""Bulk jobs on real workers: a dry run changes nothing and counts what a job then
freezes; a job reports its progress, can be aborted mid-way, survives its worker
being killed, and forks every failed run from its failure in one call; every job
and every run it acts on is audited."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from continuum_celery import InvalidQuery, Job, RunHandle
from continuum_celery.bulk import act, worker
from continuum_celery.journal import jobs
from continuum_celery.journal.audit import Actor
from continuum_celery.journal.db import JournalUnavailable
from tests.integration.checks import types, wait_for
from tests.integration.harness import WorkerFactory, WorkerProcess

APP = "tests.integration.apps.bulky"  # its fixtures, bulky and bulky_db: conftest.py


def start_worker(
    factory: WorkerFactory, bulky_db: str, broker_url: str, batch: int = 100
) -> WorkerProcess:
    env = {"BULKY_DATABASE_URL": bulky_db, "CELERY_BROKER_URL": broker_url,
           "BULKY_BATCH": str(batch)}  # fmt: skip
    return factory(APP, concurrency=2, queues=["bulky"], env=env)


def park(bulky: ModuleType, tag: str, count: int) -> list[RunHandle]:
    """``count`` runs waiting for a signal, tagged so a query finds only them."""
    handles = [bulky.cx.start(bulky.waits, tag, attributes={"tag": tag}) for _ in range(count)]
    for handle in handles:
        wait_for(lambda h=handle: "signal_awaited" in types(h.history()), timeout=30)
    return handles


def ended(bulky: ModuleType, job_id: str, timeout: float = 30.0) -> Job:
    wait_for(lambda: bulky.cx.get_job(job_id).state != "running", timeout=timeout)
    job: Job = bulky.cx.get_job(job_id)
    return job


def test_a_dry_run_changes_nothing_and_counts_what_the_job_then_freezes(
    bulky: ModuleType, bulky_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    start_worker(worker_factory, bulky_db, broker_url)
    tag = uuid.uuid4().hex
    handles = park(bulky, tag, 5)
    query = f'attributes.tag = "{tag}" AND state = "running"'
    jobs_before = bulky.cx.list_jobs()
    preview = bulky.cx.bulk("cancel", query, reason="cleanup", sample=3)
    assert preview.count == 5 == sum(bulky.cx.count_runs(query).values())
    assert len(preview.sample) == 3
    assert {run.run_id for run in preview.sample} <= {h.run_id for h in handles}
    assert bulky.cx.list_jobs() == jobs_before
    assert all(h.state == "running" and bulky.cx.audit(h.run_id) == [] for h in handles)

    job = bulky.cx.bulk("cancel", query, reason="cleanup", dry_run=False, actor="ops")
    assert isinstance(job, Job) and job.total == 5 and job.done + job.failed + job.left == 5
    assert (job.action, job.query, job.reason, job.actor) == ("cancel", query, "cleanup", "ops")
    late = park(bulky, tag, 1)[0]  # started after the job: never swept in
    done = ended(bulky, job.job_id)
    assert (done.state, done.done, done.failed, done.left) == ("completed", 5, 0, 0)
    assert done.ended_at is not None and done.ended_at >= done.created_at
    for handle in handles:
        wait_for(lambda h=handle: h.state == "cancelled")
    assert late.state == "running"
    assert bulky.cx.get_job(job.id) == done


def test_a_job_reports_progress_and_keeps_why_an_item_failed(
    bulky: ModuleType, bulky_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    start_worker(worker_factory, bulky_db, broker_url, batch=2)
    tag = uuid.uuid4().hex
    handles = park(bulky, tag, 9)
    finished = handles[0]
    bulky.cx.signal(finished.run_id, "go", "early")
    assert finished.result(timeout=15) == "early"

    job = bulky.cx.bulk("signal", f'attributes.tag = "{tag}"', reason="release", dry_run=False,
                        actor="ops", name="go", payload={"ok": 1})  # fmt: skip
    assert isinstance(job, Job) and job.total == 9
    seen = []
    while job.state == "running":
        seen.append((job.done, job.failed, job.left))
        time.sleep(0.05)
        job = bulky.cx.get_job(job.job_id)
    assert (job.state, job.done, job.failed, job.left) == ("completed", 8, 1, 0)
    assert all(sum(progress) == 9 for progress in seen)
    assert seen == sorted(seen, key=lambda p: p[2], reverse=True)  # left only goes down
    assert any(0 < left < 9 for _, _, left in seen), seen  # caught it mid-way

    [failed] = bulky.cx.job_items(job.job_id, state="failed")
    assert failed.run_id == finished.run_id and failed.error is not None
    assert failed.error.startswith("RunFinished:") and "completed" in failed.error
    for handle in handles[1:]:
        assert handle.result(timeout=15) == {"ok": 1}
        [entry] = [e for e in bulky.cx.audit(handle.run_id) if e.job_id == job.job_id]
        assert (entry.action, entry.actor, entry.reason) == ("signal", "ops", "release")
    [created] = [e for e in bulky.cx.audit_log(action="bulk") if e.job_id == job.job_id]
    assert created.run_id is None and created.actor == "ops"
    assert created.details["total"] == 9 and created.details["args"]["name"] == "go"


def test_abort_stops_a_job_mid_way(
    bulky: ModuleType, bulky_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    start_worker(worker_factory, bulky_db, broker_url, batch=1)
    tag = uuid.uuid4().hex
    handles = park(bulky, tag, 10)
    job = bulky.cx.bulk("terminate", f'attributes.tag = "{tag}"', reason="bad data",
                        dry_run=False)  # fmt: skip
    assert isinstance(job, Job)
    wait_for(lambda: bulky.cx.get_job(job.job_id).done >= 2)
    aborted = bulky.cx.abort_job(job.job_id, reason="enough", actor="lead")
    assert aborted.state == "aborted" and aborted.ended_at is not None
    assert 2 <= aborted.done < 10 and aborted.left == 10 - aborted.done
    time.sleep(1.5)  # five sweeps: nothing more happens
    assert bulky.cx.get_job(job.job_id) == aborted
    terminated = [h for h in handles if h.state == "terminated"]
    assert len(terminated) == aborted.done
    assert bulky.cx.abort_job(job.job_id) == aborted  # again: a no-op
    [entry] = [e for e in bulky.cx.audit_log(action="abort_job") if e.job_id == job.job_id]
    assert (entry.actor, entry.reason, entry.run_id) == ("lead", "enough", None)


def test_a_job_survives_its_worker_being_killed_and_signals_each_run_once(
    bulky: ModuleType, bulky_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    first = start_worker(worker_factory, bulky_db, broker_url, batch=1)
    tag = uuid.uuid4().hex
    handles = park(bulky, tag, 12)
    job = bulky.cx.bulk("signal", f'attributes.tag = "{tag}"', reason="release", dry_run=False,
                        name="go", payload="p")  # fmt: skip
    assert isinstance(job, Job)
    wait_for(lambda: bulky.cx.get_job(job.job_id).done >= 2)
    first.kill()
    at_kill = bulky.cx.get_job(job.job_id)
    assert at_kill.state == "running" and at_kill.left > 0
    start_worker(worker_factory, bulky_db, broker_url, batch=1)
    done = ended(bulky, job.job_id, timeout=60)
    assert (done.state, done.done, done.failed) == ("completed", 12, 0)
    for handle in handles:
        assert handle.result(timeout=30) == "p"
        signals = [e for e in bulky.cx.audit(handle.run_id) if e.action == "signal"]
        assert [e.job_id for e in signals] == [job.job_id]
        received = [e for e in handle.history() if e.type == "signal_received"]
        assert len(received) == 1


def test_fork_every_failed_run_from_its_failure_in_one_call(
    bulky: ModuleType,
    bulky_db: str,
    broker_url: str,
    worker_factory: WorkerFactory,
    tmp_path: Path,
) -> None:
    start_worker(worker_factory, bulky_db, broker_url)
    tag = uuid.uuid4().hex
    flag = tmp_path / "fixed"
    failed = [bulky.cx.start(bulky.broken, str(flag), attributes={"tag": tag}) for _ in range(3)]
    for handle in failed:
        wait_for(lambda h=handle: h.state == "failed", timeout=30)
    flag.touch()  # the fix is deployed

    query = f'workflow = "{bulky.broken.name}" AND state = "failed" AND attributes.tag = "{tag}"'
    job = bulky.cx.bulk("fork", query, reason="bug fixed", dry_run=False)
    assert isinstance(job, Job) and job.total == 3
    done = ended(bulky, job.job_id)
    assert (done.state, done.done, done.failed) == ("completed", 3, 0)
    for handle in failed:
        [entry] = [e for e in bulky.cx.audit(handle.run_id) if e.action == "fork"]
        assert entry.job_id == job.job_id and entry.reason == "bug fixed"
        fork = bulky.cx.run(entry.details["fork_run_id"])
        assert fork.result(timeout=30) == "fixed"
        assert bulky.cx.get_run(fork.run_id).attributes == {"tag": tag}
        assert handle.state == "failed"  # the original is left as it was


def test_a_refused_request_writes_nothing(bulky: ModuleType) -> None:
    jobs_before, audit_before = bulky.cx.list_jobs(), bulky.cx.audit_log()
    query = 'state = "running"'
    with pytest.raises(InvalidQuery):
        bulky.cx.bulk("cancel", "state = running", reason="x", dry_run=False)
    with pytest.raises(ValueError, match="action"):
        bulky.cx.bulk("delete", query, reason="x", dry_run=False)
    with pytest.raises(TypeError, match="name"):
        bulky.cx.bulk("signal", query, reason="x", dry_run=False)
    with pytest.raises(TypeError, match="at_seq"):
        bulky.cx.bulk("cancel", query, reason="x", dry_run=False, at_seq=3)
    with pytest.raises(TypeError, match="reason"):
        bulky.cx.bulk("terminate", query, reason=None, dry_run=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        bulky.cx.bulk("terminate", "", reason="x", dry_run=False)
    with pytest.raises(TypeError, match="dry_run"):
        bulky.cx.bulk("cancel", query, reason="x", dry_run="no")  # type: ignore[arg-type]
    assert bulky.cx.list_jobs() == jobs_before and bulky.cx.audit_log() == audit_before
    with pytest.raises(LookupError):
        bulky.cx.get_job(str(uuid.uuid4()))
    with pytest.raises(ValueError, match="UUID"):
        bulky.cx.abort_job("not-a-job")


def test_a_batch_that_dies_after_an_action_committed_never_repeats_it(bulky: ModuleType) -> None:
    """No worker here: the test drives the batches itself. The first dies (the
    database "goes away") right after its first signal committed; the next batch
    finds that item's audit row and does not deliver the signal again."""
    tag = uuid.uuid4().hex
    runs = [bulky.cx.start(bulky.waits, tag, attributes={"tag": tag}) for _ in range(2)]
    job = bulky.cx.bulk("signal", f'attributes.tag = "{tag}"', reason="release", dry_run=False,
                        name="go", payload=7)  # fmt: skip
    assert isinstance(job, Job)

    def dies_after_acting(action: str, run_id: str, args: dict[str, Any], by: Actor) -> None:
        act(bulky.cx, action, run_id, args, by)
        raise JournalUnavailable("the connection was lost")

    with pytest.raises(JournalUnavailable):
        jobs.work(bulky.cx.db, 10, dies_after_acting, 5.0, bulky.cx.scope)
    assert bulky.cx.get_job(job.job_id).left == 2  # the batch rolled back
    assert sum(len(bulky.cx.audit(h.run_id)) for h in runs) == 1  # one signal went out

    while worker(bulky.cx)():
        pass
    done = bulky.cx.get_job(job.job_id)
    assert (done.state, done.done, done.failed) == ("completed", 2, 0)
    for handle in runs:
        [entry] = bulky.cx.audit(handle.run_id)
        assert entry.job_id == job.job_id
        # Delivered once: to the await its start already decided, or buffered.
        buffered = [s.payload for s in bulky.cx.describe(handle.run_id).buffered_signals]
        got = [e.data["payload"] for e in handle.history() if e.type == "signal_received"]
        assert got + buffered == [7]


def test_a_job_selects_only_its_own_apps_runs(
    bulky: ModuleType, bulky_db: str, broker_url: str, worker_factory: WorkerFactory
) -> None:
    """Two apps on one database: another scope's dry run and job see none of this
    app's runs, and that app's upkeep never carries this app's job."""
    from celery import Celery

    from continuum_celery import Continuum

    start_worker(worker_factory, bulky_db, broker_url)
    tag = uuid.uuid4().hex
    park(bulky, tag, 2)
    query = f'attributes.tag = "{tag}"'
    other = Continuum(Celery("other", broker=broker_url, set_as_current=False),
                      database_url=bulky_db, scope="other")  # fmt: skip
    try:
        assert other.bulk("cancel", query, reason="x").count == 0
        assert bulky.cx.bulk("cancel", query, reason="x").count == 2
        job = other.bulk("cancel", query, reason="x", dry_run=False)
        assert job.total == 0 and job.state == "completed"
        mine = bulky.cx.bulk("cancel", query, reason="x", dry_run=False)
        assert mine.total == 2
        assert worker(other)() == 0, "another app's upkeep carried this app's job"
        assert ended(bulky, mine.job_id).done == 2
        assert sum(other.count_runs(f'{query} AND scope = "other"').values()) == 0
    finally:
        other.db.dispose()
