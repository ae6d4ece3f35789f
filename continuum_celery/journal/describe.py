"""A run described whole for operators: read-only, one connection, one snapshot.

A handful of statements (the run, its unsettled activities, open waits, buffered
signals, related runs, its continue-as-new chain) in one repeatable-read
transaction, so the parts agree with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from ..errors import RunNotFound
from ..views import BufferedSignal, Description, PendingActivity, RunLink, Wait
from . import queries as Q
from .db import Database, Record, execute
from .lifecycle import MAX_HOPS
from .queries import q
from .records import RunRecord
from .store import run_record

if TYPE_CHECKING:
    from ..client import Run

# The latest error of any attempt rides along, so a task waiting out a backoff
# says why; the next retry is when a ready task past its first attempt is due.
PENDING_ACTIVITIES = q(
    "SELECT t.id, t.command_id, t.activity, t.kind, t.attempt, t.state,"
    " CASE WHEN t.state = 'claimed' THEN t.claimed_by END AS claimed_by,"
    " CASE WHEN t.state = 'claimed' THEN t.claim_expires_at END AS claim_expires_at,"
    " t.heartbeat_at, t.heartbeat_details,"
    " CASE WHEN t.state = 'ready' AND t.attempt > 1 THEN t.available_at END AS next_retry_at,"
    " (SELECT a.error FROM cx_attempts a WHERE a.task_id = t.id AND a.error IS NOT NULL"
    " ORDER BY a.attempt DESC LIMIT 1) AS last_error"
    " FROM cx_tasks t WHERE t.run_id = :run_id AND t.state IN ('ready', 'claimed')"
    " ORDER BY t.created_at, t.command_id"
)
OPEN_WAITS = q(
    "SELECT command_id, kind, name, fires_at FROM cx_waits"
    " WHERE run_id = :run_id AND NOT resolved ORDER BY fires_at NULLS LAST, created_at"
)
BUFFERED_SIGNALS = q(
    "SELECT name, payload, created_at FROM cx_signals"
    " WHERE run_id = :run_id AND NOT consumed ORDER BY id"
)
# Parent, children, the original of a fork and its forks, in one read; ``relation``
# says which is which.
RELATED_RUNS = q(
    "SELECT 'parent' AS relation, id, workflow, state, fork_seq FROM cx_runs WHERE id = :parent"
    " UNION ALL SELECT 'forked_from', id, workflow, state, NULL FROM cx_runs WHERE id = :source"
    " UNION ALL (SELECT 'child', id, workflow, state, NULL FROM cx_runs"
    " WHERE parent_run_id = :run_id ORDER BY created_at, id)"
    " UNION ALL (SELECT 'fork', id, workflow, state, fork_seq FROM cx_runs"
    " WHERE forked_from = :run_id ORDER BY fork_seq, created_at)"
)
# Both directions from the run, each link followed at most :max_hops times.
CHAIN = q(
    "WITH RECURSIVE back (id, prev, hops) AS ("
    " SELECT id, continued_from, 0 FROM cx_runs WHERE id = :run_id"
    " UNION ALL SELECT r.id, r.continued_from, back.hops - 1 FROM back"
    " JOIN cx_runs r ON r.id = back.prev WHERE back.hops > -:max_hops),"
    " ahead (id, next, hops) AS ("
    " SELECT id, next_run_id, 0 FROM cx_runs WHERE id = :run_id"
    " UNION ALL SELECT r.id, r.next_run_id, ahead.hops + 1 FROM ahead"
    " JOIN cx_runs r ON r.id = ahead.next WHERE ahead.hops < :max_hops)"
    " SELECT id, hops FROM back UNION SELECT id, hops FROM ahead ORDER BY hops"
)


def describe(db: Database, run_id: str, to_run: Callable[[RunRecord], Run]) -> Description:
    """Everything about the run in one snapshot; raises RunNotFound for an unknown id."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            row = execute(conn, Q.GET_RUN, {"id": run_id}).first()
            if row is None:
                raise RunNotFound(f"no run with id {run_id}")
            return _describe(conn, to_run(run_record(row)))


def _describe(conn: Connection, run: Run) -> Description:
    params = {"run_id": run.run_id}
    waits = [Wait(w.command_id, w.kind, w.name, w.fires_at)
             for w in execute(conn, OPEN_WAITS, params)]  # fmt: skip
    related = _related(conn, run)
    return Description(
        run=run,
        activities=[_activity(r) for r in execute(conn, PENDING_ACTIVITIES, params)],
        timers=[w for w in waits if w.fires_at is not None],
        awaited_signals=[w for w in waits if w.kind == "signal"],
        buffered_signals=_buffered(conn, params),
        parent=next(iter(related.get("parent", [])), None),
        children=related.get("child", []),
        chain=_chain(conn, run),
        forked_from=next(iter(related.get("forked_from", [])), None),
        forks=related.get("fork", []),
    )


def _buffered(conn: Connection, params: dict[str, Any]) -> list[BufferedSignal]:
    rows = execute(conn, BUFFERED_SIGNALS, params)
    return [BufferedSignal(s.name, s.payload, s.created_at) for s in rows]


def _activity(r: Record) -> PendingActivity:
    return PendingActivity(str(r.id), r.command_id, r.activity, r.kind, int(r.attempt), r.state,
                           r.claimed_by, r.claim_expires_at, r.heartbeat_at,
                           r.heartbeat_details, r.next_retry_at, r.last_error)  # fmt: skip


def _related(conn: Connection, run: Run) -> dict[str, list[RunLink]]:
    params = {"run_id": run.run_id, "parent": run.parent_run_id, "source": run.forked_from}
    found: dict[str, list[RunLink]] = {}
    for r in execute(conn, RELATED_RUNS, params):
        seq = int(r.fork_seq) if r.relation == "fork" else run.fork_seq
        seq = seq if r.relation in ("fork", "forked_from") else None
        found.setdefault(r.relation, []).append(RunLink(str(r.id), r.workflow, r.state, seq))
    return found


def _chain(conn: Connection, run: Run) -> list[str]:
    """Ids first to newest; a run that never continued is a chain of itself."""
    if run.continued_from is None and run.next_run_id is None:
        return [run.run_id]
    rows: list[Any] = execute(conn, CHAIN, {"run_id": run.run_id, "max_hops": MAX_HOPS}).all()
    return [str(r.id) for r in rows]
