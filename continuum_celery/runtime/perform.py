"""Perform one activity attempt named by a message: claim, run, settle, publish.

The claim is a compare-and-swap on (task id, attempt), so a duplicate, stale or
forged message claims nothing and is simply dropped.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from ..activity import ActivityInfo, running
from ..definitions import Activity, Registry
from ..errors import ClaimLost, FencingError, NonRetryableError, PayloadError, UnknownActivity
from ..journal.db import JournalUnavailable
from ..journal.eager import Decide
from ..journal.records import ClaimedTask, Settled
from ..journal.tasks import AttemptError, TaskStore
from ..payloads import encode
from .keeper import KEEPER
from .transport import Publisher

log = logging.getLogger("continuum_celery.activity")


class Performer:
    def __init__(
        self,
        tasks: TaskStore,
        registry: Registry,
        publisher: Publisher,
        timeout_errors: tuple[type[BaseException], ...] = (),
        decide: Decide | None = None,
    ) -> None:
        self.tasks = tasks
        self.registry = registry
        self.publisher = publisher
        self.timeout_errors = timeout_errors
        self.decide = decide
        """Replays a run in the completing transaction (eager continuation), if set."""

    def perform(self, task_id: str, attempt: int, activity_name: str) -> bool:
        """Run the attempt if this delivery wins the claim; False when it was ignored."""
        try:
            activity = self.registry.activity(activity_name)
        except UnknownActivity as error:
            log.warning("ignored message for task %s: %s", task_id, error)
            return False
        claim = self.tasks.claim(task_id, attempt, activity_name)
        if isinstance(claim, str):
            log.info("ignored message: %s", claim)
            return False
        deadline = time.monotonic() + claim.timeout
        ticket = KEEPER.hold(lambda: self.tasks.renew(claim) is None, self.tasks.claim_ttl)
        try:  # the claim is kept alive until the attempt is settled, not just run
            settled = self._settle(claim, self._outcome(claim, activity), deadline)
        except FencingError as error:
            log.warning("task %s attempt %s: result rejected: %s", task_id, attempt, error)
            return True
        finally:
            KEEPER.drop(ticket)
        if settled is not None:
            self.publish_settled(settled)
        return True

    def _outcome(self, claim: ClaimedTask, activity: Activity) -> Any:
        found, stored = self.tasks.stored_result(claim)
        if found:
            log.info("task %s: %s already ran under key %r; reusing its result",
                     claim.task_id, claim.activity, claim.idempotency_key)  # fmt: skip
            return stored
        return self._run_body(claim, activity.fn, activity.max_payload_bytes)

    def _settle(self, claim: ClaimedTask, outcome: Any, deadline: float) -> Settled | None:
        """Journal the outcome, retrying while Postgres is unreachable.

        The result is the one thing only this worker has; losing it to a database
        blip would re-run the body. If a retried commit had in fact landed, the
        retry finds the claim settled and there is nothing left to do.
        """
        pause, retried = 0.1, False
        while True:
            try:
                if isinstance(outcome, AttemptError):
                    return self.tasks.fail(claim, outcome, random.random(), self.decide)
                return self.tasks.complete(claim, outcome, self.decide)
            except ClaimLost:
                if retried:
                    return None
                raise
            except JournalUnavailable as error:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("task %s: %s; retrying in %.1fs", claim.task_id, error, pause)
                time.sleep(pause)
                pause, retried = min(pause * 2, 2.0), True

    def _run_body(self, claim: ClaimedTask, fn: Any, limit: int) -> Any:
        info = ActivityInfo(claim.run_id, claim.task_id, claim.activity, claim.attempt)
        with running(info, lambda details: self.tasks.renew(claim, details, beat=True)):
            return self._call(claim, fn, limit)

    def _call(self, claim: ClaimedTask, fn: Any, limit: int) -> Any:
        try:
            result = fn(*claim.args, **claim.kwargs)
        except self.timeout_errors:
            message = (
                f"attempt {claim.attempt} did not finish within its {claim.timeout:g}s timeout"
            )
            return AttemptError("TimeoutError", message, outcome="timed_out")
        except NonRetryableError as error:
            return AttemptError(type(error).__name__, str(error), retryable=False)
        except Exception as error:
            return AttemptError(type(error).__name__, str(error))
        try:
            encode(result, f"result of {claim.activity}", limit)
        except PayloadError as error:
            return AttemptError(type(error).__name__, str(error), retryable=False)
        return result

    def publish_settled(self, settled: Settled) -> None:
        if settled.retry is not None:
            self.publisher.publish_activity(settled.retry)
        if settled.run_to_wake is not None:
            self.publisher.publish_advance(settled.run_to_wake)
        if settled.commit is not None:
            for message in settled.commit.tasks:
                self.publisher.publish_activity(message)
            for run_id in settled.commit.wake:
                self.publisher.publish_advance(run_id)
