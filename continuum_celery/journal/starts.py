"""Inserting a new run, and with it, when the caller could decide it, its first decision.

An eager start writes the run and what its first replay decided (an activity
scheduled, a timer, a wait, or even the run's end) in one transaction, as the
worker's first wakeup would have, so the run costs no wakeup, lease or decision
commit of its own. The decision is written by ``decisions.apply`` exactly as a
worker writes one, leaving no lease and no wake marker behind, so a duplicate or
late wakeup of the run finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ..engine.commands import Decision
from ..errors import RunAlreadyExists
from . import queries as Q
from .db import Database, Record, execute
from .decisions import apply
from .history import HistoryCache
from .records import DEFAULT_SCOPE, CommitResult, Lease, NewRun
from .rows import dumps
from .settling import SHORT_DELAY


@dataclass(frozen=True)
class Started:
    """What a start did: the run's id, whether it is new, and its first decision's
    commit when that went in with the insert (None: the run waits for a wakeup)."""

    run_id: str
    created: bool
    first: CommitResult | None = None


def first_lease(run: NewRun) -> Lease:
    """What a worker's first replay of ``run`` would hold: its inputs as the journal
    stores them and an empty history (token 0: no lease is ever taken for it)."""
    return Lease(run.run_id, 0, run.workflow, run.version, run.namespace, list(run.args),
                 dict(run.kwargs), dict(run.attributes), run.parent_run_id, [])  # fmt: skip


def start_run(
    db: Database,
    scope: str,
    run: NewRun,
    histories: HistoryCache,
    first: Decision | None = None,
) -> Started:
    """Insert ``run`` (with ``first``, its first decision, if given) in one transaction.

    With an idempotency key, the key and the run commit together, so two
    concurrent starts with one key converge on a single run. A start that finds
    its run already there (same key, or same id and input) writes nothing else.
    """
    with db.engine.begin() as conn:
        if run.idempotency_key is not None:
            existing = _claim_start_key(conn, run)
            if existing is not None:
                return Started(existing, False)
        row = insert_run(conn, run, scope)
        if row is None:
            return Started(_existing_run_id(conn, run), False)
        result = _write_first(conn, run, row, first) if first is not None else None
    if result is not None and result.history is not None:
        histories.remember(run.run_id, result.history)
    return Started(run.run_id, True, result)


def _write_first(conn: Connection, run: NewRun, row: Record, decision: Decision) -> CommitResult:
    """The first decision, on the row the insert returned (and holds: nobody else
    sees it before commit); it also clears the wake marker the insert set (or
    keeps it, if the run must replay again at once)."""
    return apply(conn, first_lease(run), row, 0, None, decision, None)


def _claim_start_key(conn: Connection, run: NewRun) -> str | None:
    params = {
        "namespace": run.namespace,
        "workflow": run.workflow,
        "key": run.idempotency_key,
        "run_id": run.run_id,
    }
    if execute(conn, Q.CLAIM_START_KEY, params).first() is not None:
        return None
    row = execute(conn, Q.GET_START_KEY, params).one()
    return str(row.run_id)


def _existing_run_id(conn: Connection, run: NewRun) -> str:
    """The run this id names, if it is the one asked for (a retried start);
    raising rolls back the start key claimed in the same transaction."""
    row = execute(conn, Q.SAME_START, run_params(run)).one()
    if not row.same_workflow:
        raise RunAlreadyExists(run.run_id, f"another workflow ({row.workflow})")
    if not row.same_input:
        raise RunAlreadyExists(run.run_id, f"other arguments for {run.workflow}")
    return run.run_id


def insert_run(conn: Connection, run: NewRun, scope: str) -> Record | None:
    """Insert the run in the caller's transaction and return its row, as ``LOCK_RUN``
    reads it; None when its id is taken (the caller decides whether that is the
    same start, retried, or a conflict)."""
    return execute(conn, Q.INSERT_RUN, run_params(run, scope)).first()


def run_params(run: NewRun, scope: str = DEFAULT_SCOPE) -> dict[str, Any]:
    return {
        "id": run.run_id,
        "workflow": run.workflow,
        "version": run.version,
        "namespace": run.namespace,
        "args": dumps(run.args),
        "kwargs": dumps(run.kwargs),
        "attributes": dumps(run.attributes),
        "key": run.idempotency_key,
        "parent_run_id": run.parent_run_id,
        "eta": run.eta,
        "publish_within": SHORT_DELAY,
        "scope": scope,
        "trace_context": dumps(run.trace_context) if run.trace_context else None,
    }
