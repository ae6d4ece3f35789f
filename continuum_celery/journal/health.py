"""Statements that read the health of upkeep and the journal, for
``continuum-celery health`` (read-only; each one within a scope)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from .db import execute
from .queries import q

# Each measure is the scope's, so it is read from the same scope-led indexes upkeep uses.
HEALTH_BLOCKED = q("SELECT count(*) FROM cx_runs WHERE state = 'blocked' AND scope = :scope")
HEALTH_OLDEST_DUE_TIMER = q(
    "SELECT min(fires_at) AS due, extract(epoch FROM now() - min(fires_at)) AS lag"
    " FROM cx_waits WHERE scope = :scope AND NOT resolved AND fires_at <= now()"
)
HEALTH_EXPIRED_CLAIMS = q(
    "SELECT count(*) FROM cx_tasks WHERE scope = :scope AND state = 'claimed'"
    " AND claim_expires_at <= now() - make_interval(secs => :grace)"
)
HEALTH_STALE_WAKES = q(
    "SELECT count(*) FROM cx_runs WHERE scope = :scope AND state = 'running'"
    " AND wake_at <= now() - make_interval(secs => :grace)"
    " AND (lease_owner IS NULL OR lease_expires_at <= now())"
)
HEALTH_LEADER = q(
    "SELECT owner, since, expires_at, extract(epoch FROM now() - expires_at) AS expired_for"
    " FROM cx_upkeep_leader WHERE scope = :scope"
)


def measures(conn: Connection, grace: float, scope: str) -> dict[str, Any]:
    """One scope's measures in one round of reads; ``leader`` is the leader row or None."""
    in_scope = {"scope": scope}
    timer = execute(conn, HEALTH_OLDEST_DUE_TIMER, in_scope).one()
    grace_param = {"grace": grace, **in_scope}
    return {
        "blocked_runs": execute(conn, HEALTH_BLOCKED, in_scope).scalar_one(),
        "oldest_due_timer": timer.due,
        "timer_lag": float(timer.lag or 0.0),
        "expired_claims": execute(conn, HEALTH_EXPIRED_CLAIMS, grace_param).scalar_one(),
        "stale_wakes": execute(conn, HEALTH_STALE_WAKES, grace_param).scalar_one(),
        "leader": execute(conn, HEALTH_LEADER, in_scope).first(),
    }
