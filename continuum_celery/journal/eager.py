"""Eager continuation: replay a run right where its activity completed.

The completing transaction already holds the run row locked. If no replay holds
a live lease, nothing else can write this run until commit, so the worker can
replay it on the spot and commit the next decisions together with the
completion: one transaction and no wakeup hop per step, with the same fencing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from ..engine.commands import Decision
from ..engine.events import Event
from .db import Record
from .decisions import apply, ends
from .history import HistoryCache
from .records import CommitResult, InlineOffer, Lease

Decide = Callable[[Lease], Decision | None]
"""Replays a run (pure); None when this process cannot (its code is missing)."""


def continue_eagerly(
    conn: Connection,
    run: Record,
    last_seq: int,
    decide: Decide,
    histories: HistoryCache,
    fresh: list[Event],
    inline: InlineOffer | None = None,
    inputs: Record | None = None,
) -> CommitResult | None:
    """Replay and write the run's next decisions in this transaction, if it may.

    Returns None when it may not: a replay elsewhere holds a live lease (it will
    see the new event and replay again), the code is missing here, or the run
    would end and has a parent (whose row must be locked before this one).
    ``fresh`` are the events this transaction appended so far; the committed
    rest comes from the history cache. The result's ``history`` is the whole
    journal after this commit, for the caller to cache once it has committed.
    ``inputs``: the run's replay inputs (``RUN_INPUTS``' columns) if already read.
    """
    if (run.lease_owner is not None and run.live) or run.state != "running":
        return None  # a blocked run is retried by a wakeup, with backoff
    run_id = str(run.id)
    history = histories.load(conn, run_id, fresh[0].seq - 1 if fresh else last_seq)
    history.extend(fresh)  # load returns a list of its own
    inputs = inputs if inputs is not None else histories.inputs(conn, run_id)
    lease = Lease.from_row(run_id, 0, inputs, history)
    decision = decide(lease)
    if decision is None or (ends(decision) and lease.parent_run_id is not None):
        return None
    return apply(conn, lease, run, last_seq, None, decision, None, inline)
