"""A read-only look at what upkeep and operators care about, in one round of queries.

Nothing here writes or locks: a health check must be safe to run at any moment,
against a live deployment, as often as a monitor likes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from .journal import health as journal_health
from .journal.db import Database, Record
from .journal.migrate import available, missing_versions


@dataclass(frozen=True)
class Leader:
    owner: str
    since: datetime
    expires_at: datetime
    expired_for: float
    """Seconds since the hold lapsed; negative while the leader renews it."""


@dataclass(frozen=True)
class Health:
    schema_version: int
    shipped_version: int
    missing_migrations: list[int]
    blocked_runs: int = 0
    oldest_due_timer: datetime | None = None
    timer_lag: float = 0.0
    expired_claims: int = 0
    stale_wakes: int = 0
    leader: Leader | None = None
    grace: float = 0.0
    scope: str = "default"
    """Whose runs and upkeep leader these are (``Continuum(scope=)``)."""

    def problems(self) -> list[str]:
        """What needs a human; empty when upkeep has everything in hand."""
        checks = [
            (bool(self.missing_migrations), f"schema lacks migration(s) {self.missing_migrations}"),
            (self.blocked_runs > 0, f"{self.blocked_runs} blocked run(s)"),
            (self.timer_lag > self.grace, f"a due timer is {self.timer_lag:.0f}s late"),
            (self.expired_claims > 0, f"{self.expired_claims} expired claim(s)"),
            (self.stale_wakes > 0, f"{self.stale_wakes} run(s) with stale wake markers"),
        ]
        found = [message for bad, message in checks if bad]
        return found + self._leader_problem()

    def _leader_problem(self) -> list[str]:
        if self.leader is None or self.leader.expired_for <= self.grace:
            return []
        return [f"no upkeep leader for {self.leader.expired_for:.0f}s"]


def check(db: Database, grace: float, scope: str = "default") -> Health:
    """One scope's health (an app's, ``Continuum(scope=)``); problems older than
    ``grace`` seconds count."""
    missing = missing_versions(db)
    shipped = max(m.version for m in available())
    applied = max((v for v in range(shipped + 1) if v not in missing), default=0)
    if missing:
        return Health(applied, shipped, missing, grace=grace, scope=scope)
    with db.engine.connect() as conn:
        measures = _measures(conn, grace, scope)
        return Health(applied, shipped, [], grace=grace, scope=scope, **measures)


def _measures(conn: Connection, grace: float, scope: str) -> dict[str, Any]:
    found = journal_health.measures(conn, grace, scope)
    return found | {"leader": _leader(found["leader"])}


def _leader(row: Record | None) -> Leader | None:
    if row is None:
        return None
    return Leader(row.owner, row.since, row.expires_at, float(row.expired_for))
