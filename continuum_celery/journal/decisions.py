"""Writing one replay's decisions: events plus their side rows, in one transaction.

The transaction is fenced by the run lease. A decision that ends the run locks
the parent first (ancestors before descendants, as everywhere), so the parent
can be told in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ..engine.commands import (
    Blocked,
    CancelledOutcome,
    Command,
    Completed,
    Continued,
    Decision,
    Failed,
    Suspended,
)
from ..errors import LeaseLost
from . import queries as Q
from .db import Record, execute
from .lifecycle import end_run, finish
from .records import CommitResult, InlineOffer, Lease, RunEnding
from .rows import lock_active_run, lock_run
from .writer import SCHEDULED, DecisionWriter


def commit(
    conn: Connection,
    lease: Lease,
    decision: Decision,
    lease_ttl: float,
    inline: InlineOffer | None = None,
) -> CommitResult:
    """Write one replay's decisions, fenced by the lease token.

    If input landed after the history was read (``last_seq`` moved), or a buffered
    signal was consumed here, the lease is kept and ``again`` asks the caller to
    replay once more: no wakeup can be lost in between.
    """
    parent = lock_run(conn, lease.parent_run_id) if ends(decision) and lease.parent_run_id else None
    run = _lock_leased(conn, lease)
    return apply(conn, lease, run, int(run.last_seq), parent, decision, lease_ttl, inline)


def ends(decision: Decision) -> bool:
    return isinstance(decision.outcome, Completed | Failed | Continued | CancelledOutcome)


def awaiting(decision: Decision) -> int | None:
    """Completions the code needs before it can move, when more than one (a gather).

    Stored on the run by a commit that saw the whole history, so that each of a
    gather's completions but the last lands without a replay (see
    ``COMPLETE_CLAIMED_TASK``); None means "replay on any input".
    """
    outcome = decision.outcome
    if isinstance(outcome, Suspended) and outcome.needs > 1:
        return outcome.needs
    return None


def apply(
    conn: Connection,
    lease: Lease,
    run: Record,
    last_seq: int,
    parent: Record | None,
    decision: Decision,
    lease_ttl: float | None,
    inline: InlineOffer | None = None,
) -> CommitResult:
    """Write a decision for a run whose row this transaction holds locked.

    ``lease_ttl`` is None when the writer holds no lease, only the row lock (the
    eager path): then a decision that needs another replay leaves the wake
    marker set instead of keeping a lease.
    """
    if isinstance(decision.outcome, Blocked):
        return _block(conn, run, last_seq, decision.outcome.error)
    # An activity a finishing run leaves behind is never claimed here: it may not run.
    offer = None if ends(decision) else inline
    writer = DecisionWriter(conn, lease, last_seq, run.db_now, offer)
    writer.awaiting = awaiting(decision)
    _write_commands(writer, decision, last_seq == lease.last_seq)
    if ends(decision):
        return _end_run(conn, writer, run, parent, decision.outcome)
    return _go_on(conn, writer, lease, last_seq, lease_ttl)


def _block(conn: Connection, run: Record, last_seq: int, error: str) -> CommitResult:
    """Hold the run (drift, or its code is missing here): nothing is written to its
    history, and upkeep tries it again with backoff, as a deploy may fix it."""
    execute(conn, Q.BLOCK_RUN, {"id": str(run.id), "error": error, "last_seq": last_seq})
    return CommitResult([], False, False, ending=_ending(run, "blocked", error))


def _ending(run: Record, state: str, error: str | None) -> RunEnding:
    return RunEnding(str(run.id), str(run.workflow), state, error)


def _write_commands(writer: DecisionWriter, decision: Decision, unchanged: bool) -> None:
    """The common decision ends by scheduling an activity and then waits: its last
    write can also release the lease, saving a round trip. Activities scheduled one
    after another (a fan-out) are written together, in one statement."""
    commands, position = decision.commands, 0
    while position < len(commands):
        span = scheduled_span(commands, position)
        end = position + max(span, 1)
        writer.release_with_write = (
            end == len(commands)
            and isinstance(decision.outcome, Suspended)
            and unchanged
            and not writer.consumed_signal
        )
        if span > 1:
            writer.schedule_many(commands[position:end])
        else:
            writer.write(commands[position])
        position = end


def scheduled_span(commands: list[Command], start: int) -> int:
    """How many commands from ``start`` on schedule activities (or compensations)."""
    end = start
    while end < len(commands) and commands[end].type in SCHEDULED:
        end += 1
    return end - start


def _end_run(
    conn: Connection, writer: DecisionWriter, run: Record, parent: Record | None, outcome: Any
) -> CommitResult:
    """End the run through ``end_run``, continued too: an activity it started and
    never awaited must not outlive it."""
    if isinstance(outcome, Continued):
        writer.spawn_successor(run)
        next_id = outcome.next_run_id
        end_run(conn, writer.run_id, ("continued", {"continued_to": next_id}, None), writer.seq,
                next_run_id=next_id)  # fmt: skip
        return CommitResult(writer.tasks, False, True, writer.wake)
    ending, traceback = _ending_of(outcome)
    wake = finish(conn, parent, run, ending, writer.seq, traceback)
    return CommitResult(writer.tasks, False, True, writer.wake + wake,
                        ending=_ending(run, ending[0], ending[2]))  # fmt: skip


def _ending_of(outcome: Any) -> tuple[tuple[str, Any, str | None], str | None]:
    """(state, result, error) and the traceback a finished run is recorded with."""
    if isinstance(outcome, Completed):
        return ("completed", outcome.result, None), None
    if isinstance(outcome, CancelledOutcome):
        why = f"cancelled: {outcome.reason}" if outcome.reason else "cancelled"
        return ("cancelled", None, why), None
    return ("failed", None, outcome.error), outcome.traceback


def _go_on(
    conn: Connection, writer: DecisionWriter, lease: Lease, last_seq: int, lease_ttl: float | None
) -> CommitResult:
    """The run waits: release it, or keep it for another replay if input landed."""
    params: dict[str, Any] = {"id": lease.run_id, "last_seq": writer.seq}
    again = writer.consumed_signal or last_seq != lease.last_seq
    if again and lease_ttl is None:
        execute(conn, Q.MARK_WAKE, params)
        return CommitResult(writer.tasks, False, False, [*writer.wake, lease.run_id],
                            writer.inline_claim)  # fmt: skip
    if again:
        execute(conn, Q.KEEP_LEASE, params | {"ttl": lease_ttl})
    elif not writer.released:
        execute(conn, Q.RELEASE_LEASE, params | {"awaiting": writer.awaiting})
    history = [*lease.history, *writer.events]
    return CommitResult(writer.tasks, again, False, writer.wake, writer.inline_claim, history)


def _lock_leased(conn: Connection, lease: Lease) -> Record:
    run = lock_active_run(conn, lease.run_id)
    if run.lease_owner is None or run.lease_token != lease.token or not run.live:
        raise LeaseLost(
            f"run {lease.run_id}: lease token {lease.token} is no longer valid "
            f"(current token {run.lease_token}, live={bool(run.live)})"
        )
    return run
