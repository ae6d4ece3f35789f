"""How runs end: completion, failure, cancellation cascades and parent notification.

Locks are always taken ancestors first (parent, then the run, then its children
generation by generation), the same order everywhere, so no two of these
transactions can deadlock.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from ..engine.composition import MAX_CHILD_DEPTH
from ..errors import RunFinished
from . import queries as Q
from .db import Record, execute
from .rows import append_event, dumps, lock_run, mark_wake

log = logging.getLogger("continuum_celery.journal")

MAX_HOPS = 10_000
"""Links one chain read follows (a longer chain is followed in several reads)."""

_WITH_RESULT = frozenset({"completed", "continued"})

_CHILD_EVENTS = {
    "completed": "child_completed",
    "failed": "child_failed",
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
) -> list[str]:
    """End the run as (state, result, error); returns runs to wake (its parent)."""
    state, result, error = outcome
    end_run(conn, str(run.id), outcome, last_seq)
    return notify_parent(conn, parent, run, state, result, error)


def end_run(
    conn: Connection,
    run_id: str,
    outcome: tuple[str, Any, str | None],
    last_seq: int,
    next_run_id: str | None = None,
) -> None:
    """The one way any run ends (continued too): its pending tasks, running
    attempts and open waits end with it, in the same statement, so nothing it
    started can still run, be published or fire afterwards."""
    state, result, error = outcome
    stored = dumps(result) if state in _WITH_RESULT else None
    params = {"id": run_id, "state": state, "result": stored, "error": error,
              "last_seq": last_seq, "next_run_id": next_run_id}  # fmt: skip
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
    if parent is None or parent.state != "running" or child.parent_command_id is None:
        return []
    data: dict[str, Any] = {"child_run_id": str(child.id)}
    if state == "completed":
        data["result"] = result
    elif state == "failed":
        data["error"] = error
    seq = int(parent.last_seq) + 1
    append_event(conn, str(parent.id), seq, _CHILD_EVENTS[state], child.parent_command_id, data)
    mark_wake(conn, str(parent.id), seq)
    return [str(parent.id)]


def cancel_tree(conn: Connection, run_id: str) -> list[str]:
    """Cancel a run and, generation by generation, its running descendants."""
    parent, run = lock_with_parent(conn, run_id)
    if run.state != "running":
        raise RunFinished(run_id, run.state)
    to_wake = finish(conn, parent, run, ("cancelled", None, "cancelled"), int(run.last_seq))
    generation = [run_id]
    for _ in range(MAX_CHILD_DEPTH):
        children = [str(r.id) for r in execute(conn, Q.LOCK_LIVE_CHILDREN, {"ids": generation})]
        if not children:
            return to_wake
        for child_id in children:
            _cancel_descendant(conn, child_id, run_id)
        generation = children
    if execute(conn, Q.LOCK_LIVE_CHILDREN, {"ids": generation}).first() is not None:
        log.error("cancel of %s stopped at depth %d; deeper runs keep running",
                  run_id, MAX_CHILD_DEPTH)  # fmt: skip
    return to_wake


def _cancel_descendant(conn: Connection, child_id: str, root_id: str) -> None:
    child = lock_run(conn, child_id)
    error = f"cancelled: ancestor run {root_id} was cancelled"
    end_run(conn, child_id, ("cancelled", None, error), int(child.last_seq))
