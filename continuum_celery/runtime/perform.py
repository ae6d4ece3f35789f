"""Perform one activity attempt named by a message: claim, run, settle, publish.

The claim is a compare-and-swap on (task id, attempt), so a duplicate, stale or
forged message claims nothing and is simply dropped.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from ..activity import ActivityInfo, running
from ..definitions import Registry
from ..errors import FencingError, NonRetryableError, PayloadError, UnknownActivity
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
        found, stored = self.tasks.stored_result(claim)
        if found:
            log.info("task %s: %s already ran under key %r; reusing its result",
                     task_id, activity_name, claim.idempotency_key)  # fmt: skip
            outcome = stored
        else:
            outcome = self._run_body(claim, activity.fn, activity.max_payload_bytes)
        try:
            if isinstance(outcome, AttemptError):
                settled = self.tasks.fail(claim, outcome, random.random(), self.decide)
            else:
                settled = self.tasks.complete(claim, outcome, self.decide)
        except FencingError as error:
            log.warning("task %s attempt %s: result rejected: %s", task_id, attempt, error)
            return True
        self.publish_settled(settled)
        return True

    def _run_body(self, claim: ClaimedTask, fn: Any, limit: int) -> Any:
        info = ActivityInfo(claim.run_id, claim.task_id, claim.activity, claim.attempt)
        ticket = KEEPER.hold(lambda: self.tasks.renew(claim) is None, self.tasks.claim_ttl)
        try:
            with running(info, lambda details: self.tasks.renew(claim, details, beat=True)):
                return self._call(claim, fn, limit)
        finally:
            KEEPER.drop(ticket)

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
