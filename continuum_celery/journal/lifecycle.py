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
    """Follow continue-as-new links to the chain's newest run."""
    for _ in range(10_000):
        row = execute(conn, Q.NEXT_IN_CHAIN, {"id": run_id}).first()
        if row is None or row.state != "continued" or row.next_run_id is None:
            return run_id
        run_id = str(row.next_run_id)
    return run_id


def finish(
    conn: Connection,
    parent: Record | None,
    run: Record,
    outcome: tuple[str, Any, str | None],
    last_seq: int,
) -> list[str]:
    """End the run as (state, result, error); returns runs to wake (its parent)."""
    state, result, error = outcome
    run_id = str(run.id)
    execute(conn,
        Q.FINISH_RUN,
        {"id": run_id, "state": state, "result": dumps(result) if state == "completed" else None,
         "error": error, "last_seq": last_seq},
    )  # fmt: skip
    discard_pending(conn, run_id)
    return notify_parent(conn, parent, run, state, result, error)


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
    execute(conn,
        Q.FINISH_RUN,
        {"id": child_id, "state": "cancelled", "result": None,
         "error": f"cancelled: ancestor run {root_id} was cancelled",
         "last_seq": int(child.last_seq)},
    )  # fmt: skip
    discard_pending(conn, child_id)


def discard_pending(conn: Connection, run_id: str) -> None:
    execute(conn, Q.DISCARD_PENDING, {"run_id": run_id})
