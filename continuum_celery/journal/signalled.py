"""A signal that resumes its run in its own transaction.

Delivering a signal that resolves an await used to end with a wakeup message: a
worker then locked the run again and replayed it. A process that has the run's
workflow code can instead replay it right here, under the row lock the delivery
already holds, and commit the run's next decisions with the signal: one
transaction and no wakeup hop, the same as a completion's eager continuation.

The replay is an extra, never a condition. When it may not be made here (no code,
a live lease elsewhere, a blocked run, one that would end under a parent, a
replay that failed or was blocked), nothing is written for it and the signal
commits alone with its wake marker, for a worker to pick up as before. When
writing its decisions fails, the whole transaction is rolled back, before any
commit was asked for, and the signal is delivered again alone (``ReplayFailed``):
no savepoint, whose two extra round trips every signal would pay.

The lock statement sets the transaction's idle limit to the lease TTL (see
``waking``), so a signaller frozen in the replay cannot hold the row longer than
a lease would: Postgres ends its session, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from ..engine.events import Event
from .db import Record
from .eager import Decide, continue_eagerly
from .records import CommitResult
from .signals import Delivered, Replaying, mark_declined, may_replay


class ReplayFailed(Exception):
    """The replay at a signal (or writing what it decided) failed, so its whole
    transaction was rolled back; nothing was committed, so deliver it again alone."""


@dataclass(frozen=True)
class Signalled:
    """What a committed signal leaves to do: wake its run, or publish what the
    run's next decision (committed with the signal) needs."""

    run_id: str
    """The run the signal landed on (the chain's newest)."""
    resolved: bool
    """The signal resolved an await (else it is buffered until one comes)."""
    commit: CommitResult | None = None
    """The run's next decisions, committed with the signal."""

    @property
    def woken(self) -> str | None:
        """The run to wake: the signal is new input no replay has seen yet."""
        return self.run_id if self.resolved and self.commit is None else None


def continue_signalled(
    conn: Connection,
    delivered: Delivered,
    decide: Decide | None,
    replaying: Replaying | None,
) -> Signalled:
    """Replay the run a signal just resumed, in the signal's transaction, if this
    process may (``decide`` given, and ``may_replay``); if it may not, or the
    replay declines, the run is left marked for a worker.

    Raises ``ReplayFailed`` if anything in the replay's part fails: the caller's
    transaction must then be rolled back, not committed.
    """
    run, event = delivered.run, delivered.event
    run_id = str(run.id)
    if event is None:
        return Signalled(run_id, False)
    commit = None
    if decide is not None and replaying is not None and may_replay(run, replaying):
        commit = _replay(conn, run, event, decide, replaying)
    if commit is None:
        mark_declined(conn, delivered)
    return Signalled(run_id, True, commit)


def _replay(
    conn: Connection, run: Record, event: Event, decide: Decide, replaying: Replaying
) -> CommitResult | None:
    try:  # ``run`` carries the replay inputs too (LOCK_CHAIN_TIP)
        return continue_eagerly(
            conn, run, event.seq, decide, replaying.histories, [event], None, run
        )
    except Exception as error:
        raise ReplayFailed(f"run {run.id}: the replay at the signal failed: {error!r}") from error


def replay_failed(error: BaseException | None) -> ReplayFailed | None:
    """The ``ReplayFailed`` behind ``error``, if any: ``error`` itself, or one that was
    being rolled back when the rollback failed too (its session was gone, ended
    by the idle limit, say). Either way no commit was asked for."""
    while error is not None and not isinstance(error, ReplayFailed):
        error = error.__context__
    return error
