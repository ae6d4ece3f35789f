"""A signal that resumes its run in its own transaction.

Delivering a signal that resolves an await used to end with a wakeup message: a
worker then locked the run again and replayed it. A process that has the run's
workflow code can instead replay it right here, under the row lock the delivery
already holds, and commit the run's next decisions with the signal: one
transaction and no wakeup hop, the same as a completion's eager continuation.

The replay is an extra, never a condition: when it may not be made here (no code,
a live lease elsewhere, a blocked run, one that would end under a parent) or
fails in any way, it is rolled back to the savepoint taken before it, and the
signal commits alone with its wake marker, for a worker to pick up as before.

The transaction's idle limit is the lease TTL (see ``waking``), so a signaller
frozen in the replay cannot hold the row for longer than a lease would. Its
session is then gone with all it wrote, before any commit was asked for, so the
signal is delivered again, alone (``ReplayLost``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from ..engine.events import Event
from .db import Record
from .eager import Decide, continue_eagerly
from .history import HistoryCache
from .records import CommitResult
from .signals import Delivered

log = logging.getLogger("continuum_celery.signals")


class ReplayLost(Exception):
    """The session was lost during the replay at the signal (Postgres ends one that
    idles past the lease TTL), before anything was committed: deliver again alone."""


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
    histories: HistoryCache,
    scope: str,
) -> Signalled:
    """Replay the run a signal just resumed, in the signal's transaction, if this
    process may (``decide`` given, and the run is of this app's ``scope``)."""
    run, event = delivered.run, delivered.event
    run_id = str(run.id)
    if event is None:
        return Signalled(run_id, False)
    may = decide is not None and run.scope == scope
    commit = _continue(conn, run, event, decide, histories) if may and decide else None
    return Signalled(run_id, True, commit)


def _continue(
    conn: Connection, run: Record, event: Event, decide: Decide, histories: HistoryCache
) -> CommitResult | None:
    """``continue_eagerly`` inside a savepoint: whatever fails leaves the signal
    written and nothing of the replay."""
    try:
        with conn.begin_nested():
            return continue_eagerly(conn, run, event.seq, decide, histories, [event])
    except Exception as error:  # the wakeup's replay meets it again, and reports it
        if conn.invalidated:  # the session is gone (idle past the TTL, say): so is the signal
            raise ReplayLost(f"run {run.id}: session lost in the replay at the signal") from error
        log.warning("run %s: replay at the signal failed; a wakeup replays it", run.id,
                    exc_info=True)  # fmt: skip
        return None
