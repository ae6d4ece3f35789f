"""How attempts are reported to the transport, whether they came as a message or not.

A delivered attempt's outcome goes back to the task that received it (so Celery
records FAILURE for a failed attempt, and SUCCESS with a note for a duplicate).
An attempt run inline has no message of its own; an ``AttemptObserver`` reports it
the way the transport reports its own tasks (for Celery: task events and signals).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ..journal.records import ClaimedTask, LostAttempt
from ..journal.settling import AttemptError

log = logging.getLogger("continuum_celery.activity")


@dataclass(frozen=True)
class Delivery:
    """What became of the attempt a message named, once the journal is settled."""

    ignored: str | None = None
    """Why the message did nothing: a duplicate, stale, fenced-out or forged delivery."""
    error: AttemptError | None = None
    """How the attempt failed, as journaled."""

    @property
    def failure(self) -> BaseException | None:
        """What the transport raises to record the failure (the body's own exception)."""
        return None if self.error is None else failure_of(self.error)

    def as_journaled(self) -> AttemptError | None:
        """The attempt's error as the journal has it: a delivery that settled nothing
        (its claim was lost) ends as a failed attempt there too."""
        if self.ignored is not None:
            return AttemptError("ClaimLost", self.ignored)
        return self.error


class AttemptObserver(Protocol):
    def started(self, claim: ClaimedTask) -> None:
        """An inline attempt's body is about to run."""

    def finished(self, claim: ClaimedTask, error: AttemptError | None) -> None:
        """An inline attempt is settled in the journal: succeeded, or failed with ``error``."""

    def lost(self, attempt: LostAttempt) -> None:
        """Upkeep ended an attempt whose worker died or hung (it was never settled)."""


class Unobserved:
    """No transport to tell (tests, embedded use)."""

    def started(self, claim: ClaimedTask) -> None:
        pass

    def finished(self, claim: ClaimedTask, error: AttemptError | None) -> None:
        pass

    def lost(self, attempt: LostAttempt) -> None:
        pass


def attempt_outcome(delivery: Delivery) -> str:
    """An attempt's outcome as telemetry names it."""
    if delivery.ignored is not None:
        return "ignored"
    return "completed" if delivery.error is None else delivery.error.outcome


def failure_of(error: AttemptError) -> BaseException:
    """The exception that stands for a failed attempt: the body's own when there is one."""
    if error.exception is not None:
        return error.exception
    return RuntimeError(error.text())


def late_error(claim: ClaimedTask) -> AttemptError:
    """A body that finished after its timeout: the journal counts it as timed out."""
    message = f"attempt {claim.attempt} finished after its {claim.timeout:g}s timeout"
    return AttemptError("TimeoutError", message, outcome="timed_out",
                        exception=TimeoutError(message))  # fmt: skip


UNSETTLED = AttemptError("WorkerLost", "the attempt could not be settled; upkeep retries it")


def log_failure(claim: ClaimedTask, error: AttemptError) -> None:
    log.warning("run %s: %s attempt %d failed: %s (task %s)",
                claim.run_id, claim.activity, claim.attempt, error.text(),
                claim.task_id)  # fmt: skip


def log_lost(attempt: LostAttempt) -> None:
    log.warning("run %s: %s attempt %d failed: %s: %s (task %s)",
                attempt.run_id, attempt.activity, attempt.attempt, attempt.error_type,
                attempt.message, attempt.task_id)  # fmt: skip
