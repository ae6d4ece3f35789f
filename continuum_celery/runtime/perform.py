"""Perform one activity attempt named by a message: claim, run, settle, publish.

The claim is a compare-and-swap on (task id, attempt), so a duplicate, stale or
forged message claims nothing and is simply dropped.

Settling the attempt replays the run in the same transaction (eager
continuation). When that schedules an activity this worker can run itself, it is
claimed in that transaction too and run right here (inline dispatch): a
sequential workflow then costs one commit and no broker message per step, for as
long as the delivery's time budget allows.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from ..activity import ActivityInfo, running
from ..definitions import Activity, Registry
from ..errors import (
    ActivityCancelled,
    ClaimLost,
    FencingError,
    NonRetryableError,
    PayloadError,
    UnknownActivity,
)
from ..journal.db import JournalRejected, JournalUnavailable
from ..journal.eager import Decide
from ..journal.held import HeldClaim
from ..journal.records import ClaimedTask, InlineOffer, Settled, TaskMessage
from ..journal.settling import AttemptError
from ..journal.tasks import TaskStore
from ..payloads import encode
from .attempts import (
    UNSETTLED,
    AttemptObserver,
    Delivery,
    Unobserved,
    attempt_outcome,
    late_error,
    log_failure,
)
from .deadline import AttemptTimeout, attempt_deadline
from .holding import PROMOTE_AFTER, QUICK_BODY, beat, durable, keep, promote_once
from .hooks import NOOP, Hooks, guarded
from .keeper import KEEPER
from .report import report
from .transport import Publisher, publish_commit

log = logging.getLogger("continuum_celery.activity")

Router = Callable[[str, str | None], str | None]
"""(activity, queue option) -> the queue its messages are routed to."""

MAX_INLINE_STEPS = 1000
"""Activities one delivery may run inline, whatever its time budget."""


class Performer:
    def __init__(
        self,
        tasks: TaskStore,
        registry: Registry,
        publisher: Publisher,
        timeout_errors: tuple[type[BaseException], ...] = (),
        decide: Decide | None = None,
        router: Router | None = None,
        inline_budget: float = 0.0,
        observer: AttemptObserver | None = None,
    ) -> None:
        self.observer: AttemptObserver = observer or Unobserved()
        """Reports attempts that run inline, with no message of their own."""
        self.tasks = tasks
        self.registry = registry
        self.publisher = publisher
        self.timeout_errors: tuple[type[BaseException], ...] = (AttemptTimeout, *timeout_errors)
        """What a body raises when it is stopped at its timeout (ours and the transport's)."""
        self.decide = decide
        """Replays a run in the completing transaction (eager continuation), if set."""
        self.router = router
        self.inline_budget = inline_budget
        """Seconds one delivery may go on running its run's next activities inline."""
        self.owner: Callable[[], str | None] = lambda: None
        """Who claims attempts here (host and pid), kept with each claim for operators."""
        self.hooks: Hooks = NOOP
        """Telemetry: each attempt's begin and end, fenced results, runs that end."""
        self.hold_claims = True
        """Claim a delivered attempt of a quick activity in the transaction it is
        settled in (one commit), unless the message was redelivered (see
        ``journal/held``)."""
        self.quick: dict[str, bool] = {}
        """Activities whose last body here took under ``QUICK_BODY`` seconds."""

    def perform(
        self,
        task_id: str,
        attempt: int,
        activity_name: str,
        time_limit: float | None = None,
        redelivered: bool = False,
    ) -> Delivery:
        """Run the attempt if this delivery wins the claim; say what became of it.

        ``time_limit`` is how long the delivery may run before the transport
        interrupts it (Celery's soft time limit), if it does. A ``redelivered``
        message (its worker died, say) is claimed durably before its body runs,
        so a body that kills its worker counts as an attempt each time.
        """
        try:
            self.registry.activity(activity_name)  # unknown: ignore before claiming
        except UnknownActivity as error:
            log.warning("ignored message for task %s: %s", task_id, error)
            return Delivery(ignored=f"ignored: {error}")
        taken = (
            self.tasks.hold(task_id, attempt, activity_name, self.owner())
            if self.hold_claims and not redelivered and self.quick.get(activity_name, False)
            else self.tasks.claim(task_id, attempt, activity_name, self.owner())
        )
        if isinstance(taken, str):
            log.info("ignored message: %s", taken)
            return Delivery(ignored=f"ignored: {taken}")
        held, claim = (taken, taken.claim) if isinstance(taken, HeldClaim) else (None, taken)
        queue = self.router(claim.activity, claim.queue) if self.router else None
        offer = self.inline_offer(queue, time_limit)
        return self.run_claimed(claim, offer, delivered=True, held=held)

    def run_claimed(
        self,
        claim: ClaimedTask,
        offer: InlineOffer | None,
        delivered: bool = False,
        held: HeldClaim | None = None,
    ) -> Delivery:
        """Run a claimed attempt, then each activity ``offer`` lets its settling claim.

        With ``delivered``, the first attempt is the one a message named, and its
        outcome is returned for the transport to record; every other attempt runs
        inline and is reported through the observer.
        """
        own, outcome = delivered, Delivery()
        next_claim: ClaimedTask | None = claim
        while next_claim is not None:
            activity = self.registry.activity(next_claim.activity)
            if own:
                next_claim, outcome = self._attempt(next_claim, activity, offer, held)
                own = False
            else:
                next_claim = self._observed(next_claim, activity, offer)
        return outcome

    def _observed(
        self, claim: ClaimedTask, activity: Activity, offer: InlineOffer | None
    ) -> ClaimedTask | None:
        """An inline attempt, reported as if it were a task of its own."""
        _tell(self.observer.started, claim)
        inline, outcome = None, Delivery(error=UNSETTLED)
        try:
            inline, outcome = self._attempt(claim, activity, offer)
        finally:
            _tell(self.observer.finished, claim, outcome.as_journaled())
        return inline

    def _attempt(
        self,
        claim: ClaimedTask,
        activity: Activity,
        offer: InlineOffer | None,
        held: HeldClaim | None = None,
    ) -> tuple[ClaimedTask | None, Delivery]:
        """Run and settle one claimed attempt; returns the activity claimed inline next,
        and what became of this one."""
        hooks = self.hooks
        if not hooks.enabled:
            return self._run_attempt(claim, activity, offer, held)
        scope, outcome = guarded(hooks.attempt_begin, claim), "error"
        try:
            inline, delivery = self._run_attempt(claim, activity, offer, held)
            outcome = attempt_outcome(delivery)
            return inline, delivery
        finally:
            guarded(hooks.attempt_end, scope, claim, outcome)

    def _run_attempt(
        self,
        claim: ClaimedTask,
        activity: Activity,
        offer: InlineOffer | None,
        held: HeldClaim | None = None,
    ) -> tuple[ClaimedTask | None, Delivery]:
        deadline = time.monotonic() + claim.timeout
        tickets = [KEEPER.hold(lambda: keep(self.tasks, claim, held), self.tasks.claim_ttl)]
        if held is not None:  # promoted once, then renewed like any claim
            tickets.append(KEEPER.hold(lambda: promote_once(held), 3 * PROMOTE_AFTER))
        try:  # the claim is kept alive until the attempt is settled, not just run
            outcome = self._outcome(claim, activity, held)
            settled, outcome = self._settle(claim, outcome, deadline, offer, held)
        except FencingError as error:
            log.warning("task %s attempt %s: result rejected: %s",
                        claim.task_id, claim.attempt, error)  # fmt: skip
            if self.hooks.enabled:
                guarded(self.hooks.fenced, "claim")
            return None, Delivery(ignored=f"fenced out: {error}")
        finally:
            for ticket in tickets:
                KEEPER.drop(ticket)
            if held is not None:
                held.release()
        if settled is None:
            return None, Delivery(ignored="already settled by an earlier try of this commit")
        if settled.commit is not None:
            report(settled.commit.ending, self.hooks)
        self.publish_settled(settled)
        inline = settled.commit.inline if settled.commit is not None else None
        if inline is not None:
            log.debug("task %s: %s runs inline after %s", inline.task_id, inline.activity,
                      claim.activity)  # fmt: skip
        return inline, _delivery(claim, outcome, settled)

    def inline_offer(self, queue: str | None, time_limit: float | None) -> InlineOffer | None:
        """What a delivery from ``queue`` may take on inline: code here, same queue,
        time left.

        An inline activity shares the delivery's time limit, so it is taken only
        if its whole timeout fits in what is left; and it must route to the queue
        this delivery came from, so a worker never runs work meant for others.
        """
        if self.router is None or self.decide is None or self.inline_budget <= 0:
            return None
        router, registry = self.router, self.registry
        started, taken = time.monotonic(), 0

        def wants(message: TaskMessage) -> bool:
            nonlocal taken
            elapsed = time.monotonic() - started
            if elapsed > self.inline_budget or taken >= MAX_INLINE_STEPS:
                return False
            if time_limit is not None and elapsed + message.timeout > time_limit:
                return False
            if message.activity not in registry.activities:
                return False
            if router(message.activity, message.queue) != queue:
                return False
            taken += 1
            return True

        return InlineOffer(wants, self.tasks.claim_ttl, self.owner())

    def _outcome(self, claim: ClaimedTask, activity: Activity, held: HeldClaim | None) -> Any:
        found, stored = self.tasks.stored_result(claim)
        if found:
            log.info("task %s: %s already ran under key %r; reusing its result",
                     claim.task_id, claim.activity, claim.idempotency_key)  # fmt: skip
            return stored
        return self._run_body(claim, activity.fn, activity.max_payload_bytes, held)

    def _settle(
        self,
        claim: ClaimedTask,
        outcome: Any,
        deadline: float,
        offer: InlineOffer | None,
        held: HeldClaim | None = None,
    ) -> tuple[Settled | None, Any]:
        """Journal the outcome, retrying while Postgres is unreachable.

        Returns what was settled and the outcome as journaled (a refused result
        is journaled as a failure). The result is the one thing only this worker has;
        losing it to a database
        blip would re-run the body. If a retried commit had in fact landed, the
        retry finds the claim settled and there is nothing left to do. (An
        activity that commit claimed inline is then never run here; its claim
        lapses and upkeep counts that attempt as lost.)
        """
        pause, retried, decide = 0.1, False, self.decide
        while True:
            try:
                return self._journal(claim, outcome, decide, offer, held), outcome
            except JournalRejected as error:
                if decide is None and isinstance(outcome, AttemptError):
                    raise
                outcome, decide = self._rejected(claim, outcome, decide, error)
            except ClaimLost:
                if retried:
                    return None, outcome
                raise
            except JournalUnavailable as error:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("task %s: %s; retrying in %.1fs", claim.task_id, error, pause)
                time.sleep(pause)
                pause, retried = min(pause * 2, 2.0), True

    def _journal(
        self,
        claim: ClaimedTask,
        outcome: Any,
        decide: Decide | None,
        offer: InlineOffer | None,
        held: HeldClaim | None,
    ) -> Settled:
        """One try at journaling the outcome: a failure is settled on a committed
        claim (under the task lock), a result in the holding transaction if held."""
        if isinstance(outcome, AttemptError):
            claim = durable(claim, held)
            return self.tasks.fail(claim, outcome, random.random(), decide, offer)
        claim = held.claim if held is not None else claim
        return self.tasks.complete(claim, outcome, decide, offer, held)

    def _rejected(
        self, claim: ClaimedTask, outcome: Any, decide: Decide | None, error: JournalRejected
    ) -> tuple[Any, Decide | None]:
        """What to try after Postgres refused to store a settlement.

        Settling may carry the run's next decisions (eager continuation); those are
        the workflow's to answer for, so first settle the attempt alone and leave
        the run to its wakeup, which fails the run visibly if they are refused
        again. Refused on its own, the result itself is unstorable: the attempt
        fails at once, saying why, instead of lapsing into a timeout.
        """
        if decide is not None:
            return outcome, None
        log.warning("task %s: result of %s refused by Postgres: %s",
                    claim.task_id, claim.activity, error)  # fmt: skip
        return AttemptError(type(error).__name__, str(error), retryable=False,
                            exception=error), None  # fmt: skip

    def _run_body(
        self, claim: ClaimedTask, fn: Any, limit: int, held: HeldClaim | None = None
    ) -> Any:
        info = ActivityInfo(claim.run_id, claim.task_id, claim.activity, claim.attempt)
        started = time.monotonic()
        try:
            with running(info, lambda details: beat(self.tasks, claim, held, details)):
                return self._call(claim, fn, limit)
        finally:
            self.quick[claim.activity] = time.monotonic() - started < QUICK_BODY

    def _call(self, claim: ClaimedTask, fn: Any, limit: int) -> Any:
        try:
            with attempt_deadline(claim.timeout):
                result = fn(*claim.args, **claim.kwargs)
        except self.timeout_errors as error:
            message = (
                f"attempt {claim.attempt} did not finish within its {claim.timeout:g}s timeout"
            )
            timeout = TimeoutError(message)
            timeout.__cause__ = error
            return AttemptError("TimeoutError", message, outcome="timed_out", exception=timeout)
        except (NonRetryableError, ActivityCancelled) as error:  # retrying cannot help
            return AttemptError(type(error).__name__, str(error), False, exception=error)
        except Exception as error:
            return AttemptError(type(error).__name__, str(error), exception=error)
        try:
            encode(result, f"result of {claim.activity}", limit)
        except PayloadError as error:
            return AttemptError(type(error).__name__, str(error), False, exception=error)
        return result

    def publish_settled(self, settled: Settled) -> None:
        if settled.retry is not None:
            self.publisher.publish_activity(settled.retry)
        if settled.run_to_wake is not None:
            self.publisher.publish_advance(settled.run_to_wake)
        if settled.commit is not None:
            publish_commit(self.publisher, settled.commit)


def _delivery(claim: ClaimedTask, outcome: Any, settled: Settled) -> Delivery:
    """What became of a settled attempt; a failure is logged, wherever it ran."""
    error = late_error(claim) if not settled.accepted else None
    if error is None and isinstance(outcome, AttemptError):
        error = outcome
    if error is not None:
        log_failure(claim, error)
    return Delivery(error=error)


def _tell(report: Callable[..., None], *args: Any) -> None:
    """Reporting is a view of the journal: its failure must not fail the attempt."""
    try:
        report(*args)
    except Exception:
        log.warning("reporting an inline attempt failed", exc_info=True)
