"""An attempt whose worker died is a failed attempt: logged, and reported like any other.

Upkeep settles it (the claim expired); the worker that ran it cannot report it any
more, so upkeep does: a WARNING with the run id, activity and error, and the
observer's ``lost`` (for Celery: ``task-failed`` under the attempt's task id, so
Flower does not show it STARTED for ever, and ``task_failure``).
"""

from __future__ import annotations

import logging

import pytest

from continuum_celery.definitions import Registry
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import ClaimedTask, LostAttempt, TaskMessage
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.sweep import SweepStore
from continuum_celery.journal.tasks import AttemptError, TaskStore
from continuum_celery.runtime.perform import Performer
from continuum_celery.runtime.sweeper import Sweeper, UpkeepSettings
from tests.integration.test_journal_fencing import claim_first, expire_claim, start


class Recorder:
    def __init__(self) -> None:
        self.lost_attempts: list[LostAttempt] = []
        self.advances: list[str] = []

    def started(self, claim: ClaimedTask) -> None:
        pass

    def finished(self, claim: ClaimedTask, error: AttemptError | None) -> None:
        pass

    def lost(self, attempt: LostAttempt) -> None:
        self.lost_attempts.append(attempt)

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advances.append(run_id)

    def publish_activity(self, message: TaskMessage) -> None:
        pass


def test_an_attempt_lost_with_its_worker_is_logged_and_reported(
    journal_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    runs, tasks = RunStore(journal_db, lease_ttl=30.0), TaskStore(journal_db)
    run_id = start(runs, 1)
    claim = claim_first(runs, tasks, run_id)
    expire_claim(journal_db, claim.task_id)  # its worker died: nobody renews it
    recorder = Recorder()
    performer = Performer(tasks, Registry(), recorder, observer=recorder)
    sweeper = Sweeper(SweepStore(journal_db), tasks, recorder, performer, UpkeepSettings())

    with caplog.at_level(logging.WARNING, logger="continuum_celery"):
        assert sweeper.run_once().claims_expired >= 1

    (lost,) = [a for a in recorder.lost_attempts if a.task_id == claim.task_id]
    assert (lost.run_id, lost.activity, lost.attempt) == (run_id, "journal.step", 1)
    assert lost.error_type == "TimeoutError"
    (line,) = [r.getMessage() for r in caplog.records if claim.task_id in r.getMessage()]
    assert run_id in line and "journal.step attempt 1 failed: TimeoutError" in line
