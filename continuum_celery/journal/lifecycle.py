"""How runs end: completion, failure, cancel requests, terminate cascades, parents told.

Locks are always taken ancestors first (parent, then the run, then its children
generation by generation), the same order everywhere, so no two of these
transactions can deadlock.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from ..engine.composition import MAX_CHILD_DEPTH
from ..engine.events import CANCEL_REQUESTED
from ..errors import RunFinished
from . import queries as Q
from .db import Record, execute
from .rows import ACTIVE, append_event, dumps, lock_run, mark_wake

log = logging.getLogger("continuum_celery.journal")

MAX_HOPS = 10_000
"""Links one chain read follows (a longer chain is followed in several reads)."""

_WITH_RESULT = frozenset({"completed", "continued"})

_CHILD_EVENTS = {
    "completed": "child_completed",
    "failed": "child_failed",
    "terminated": "child_failed",  # the parent sees a failure that names the terminate
    "cancelled": "child_cancelled",
}


def lock_with_parent(conn: Connection, run_id: str) -> tuple[Record | None, Record]:
    """Lock the run's parent (if any) before the run: ancestors first, always."""
    parent_id = execute(conn, Q.PARENT_OF, {"id": run_id}).scalar()
    parent = lock_run(conn, str(parent_id)) if parent_id is not None else None
    return parent, lock_run(conn, run_id)


def chain_tip(conn: Connection, run_id: str) -> str:
    """The newest run of the chain through ``run_id``, read without a lock.

    It may continue before the caller locks it: writers go through
    ``store.at_chain_tip``, which then tries again from there.
    """
    tip = execute(conn, Q.CHAIN_TIP, {"id": run_id, "max_hops": MAX_HOPS}).scalar()
    return run_id if tip is None else str(tip)


def finish(
    conn: Connection,
    parent: Record | None,
    run: Record,
    outcome: tuple[str, Any, str | None],
    last_seq: int,
    traceback: str | None = None,
) -> list[str]:
    """End the run as (state, result, error); returns runs to wake (its parent)."""
    state, result, error = outcome
    end_run(conn, str(run.id), outcome, last_seq, traceback=traceback)
    return notify_parent(conn, parent, run, state, result, error)


def end_run(
    conn: Connection,
    run_id: str,
    outcome: tuple[str, Any, str | None],
    last_seq: int,
    next_run_id: str | None = None,
    traceback: str | None = None,
) -> None:
    """The one way any run ends (continued too): its pending tasks, running
    attempts and open waits end with it, in the same statement, so nothing it
    started can still run, be published or fire afterwards."""
    state, result, error = outcome
    stored = dumps(result) if state in _WITH_RESULT else None
    params = {"id": run_id, "state": state, "result": stored, "error": error,
              "last_seq": last_seq, "next_run_id": next_run_id,
              "traceback": traceback}  # fmt: skip
    execute(conn, Q.END_RUN, params)


def notify_parent(
    conn: Connection,
    parent: Record | None,
    child: Record,
    state: str,
    result: Any,
    error: str | None,
) -> list[str]:
    """Journal the child's end in the parent's history, under the parent's lock."""
    if parent is None or parent.state not in ACTIVE or child.parent_command_id is None:
        return []
    data: dict[str, Any] = {"child_run_id": str(child.id)}
    if state == "completed":
        data["result"] = result
    elif state in ("failed", "terminated"):
        data["error"] = error
    seq = int(parent.last_seq) + 1
    append_event(conn, str(parent.id), seq, _CHILD_EVENTS[state], child.parent_command_id, data)
    mark_wake(conn, str(parent.id), seq)
    return [str(parent.id)]


def terminate_tree(conn: Connection, run_id: str, reason: str, by: str) -> list[str]:
    """Stop a run and, generation by generation, its live descendants, running no
    workflow code. Each gets a ``run_terminated`` event saying who and why."""
    parent, run = lock_with_parent(conn, run_id)
    if run.state not in ACTIVE:
        raise RunFinished(run_id, run.state)
    seq = _journal(conn, run, "run_terminated", {"reason": reason, "by": by})
    outcome = ("terminated", None, f"terminated: {reason}")
    to_wake = finish(conn, parent, run, outcome, seq)
    for child_id in _descendants(conn, run_id):
        child = lock_run(conn, child_id)
        why = f"ancestor run {run_id} was terminated: {reason}"
        seq = _journal(conn, child, "run_terminated", {"reason": why, "by": by})
        end_run(conn, child_id, ("terminated", None, f"terminated: {why}"), seq)
    return to_wake


def request_cancel_tree(conn: Connection, run_id: str, reason: str | None, by: str) -> list[str]:
    """Ask a run and its live descendants to cancel; returns the runs to wake.

    Each gets a ``cancel_requested`` event, and the workflow gets
    ``workflow.Cancelled`` at the wait it is at, so it can clean up. A run that was
    already asked is left as it is: asking twice is not an error.
    """
    run = lock_run(conn, run_id)
    if run.state not in ACTIVE:
        raise RunFinished(run_id, run.state)
    woken = [run_id] if request_cancel(conn, run, reason, by) else []
    for child_id in _descendants(conn, run_id):
        why = f"ancestor run {run_id} was cancelled" + (f": {reason}" if reason else "")
        if request_cancel(conn, lock_run(conn, child_id), why, by):
            woken.append(child_id)
    return woken


def request_cancel(conn: Connection, run: Record, reason: str | None, by: str) -> bool:
    run_id = str(run.id)
    if execute(conn, Q.REQUEST_CANCEL, {"id": run_id, "reason": reason}).first() is None:
        return False
    execute(conn, Q.CLOSE_WAITS, {"run_id": run_id})
    seq = _journal(conn, run, CANCEL_REQUESTED, {"reason": reason, "by": by})
    mark_wake(conn, run_id, seq)
    return True


def _journal(conn: Connection, run: Record, type_: str, data: dict[str, Any]) -> int:
    seq = int(run.last_seq) + 1
    append_event(conn, str(run.id), seq, type_, None, data)
    return seq


def _descendants(conn: Connection, run_id: str) -> list[str]:
    """Live descendants, locked generation by generation (ancestors first)."""
    found: list[str] = []
    generation = [run_id]
    for _ in range(MAX_CHILD_DEPTH):
        children = [str(r.id) for r in execute(conn, Q.LOCK_LIVE_CHILDREN, {"ids": generation})]
        if not children:
            return found
        found += children
        generation = children
    log.error("run %s: descendants deeper than %d are left alone", run_id, MAX_CHILD_DEPTH)
    return found
