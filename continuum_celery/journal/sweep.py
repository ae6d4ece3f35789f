"""Upkeep reads and writes: what is due, stuck or lost, found through partial indexes.

Each query touches only rows that need attention (due waits, expired claims,
unpublished tasks, runs with a wake marker), so a million parked runs cost
upkeep nothing. Each is also confined to one scope (``Continuum(scope=)``): the
indexes it reads lead with the scope, so another app's rows, due or parked, are
never read, and a sweep never touches another app's runs.
"""

from __future__ import annotations

from . import queries as Q
from .db import Database, execute
from .records import DEFAULT_SCOPE, TaskMessage
from .rows import ACTIVE, append_event, lock_run, mark_wake


class SweepStore:
    def __init__(self, db: Database, scope: str = DEFAULT_SCOPE) -> None:
        self.db = db
        self.scope = scope
        """Every sweep reads and changes this scope's rows only. Upkeep work added
        later (bulk jobs, say) finds it here, as ``Sweeper.sweep.scope``."""

    def due_waits(self, limit: int) -> list[tuple[str, str]]:
        with self.db.engine.connect() as conn:
            rows = execute(conn, Q.DUE_WAITS, {"limit": limit, "scope": self.scope})
            return [(str(r.run_id), r.command_id) for r in rows]

    def fire_wait(self, run_id: str, command_id: str) -> bool:
        """Journal ``timer_fired`` unless something resolved the wait first."""
        with self.db.engine.begin() as conn:
            run = lock_run(conn, run_id)
            resolved = execute(
                conn, Q.RESOLVE_WAIT, {"run_id": run_id, "command_id": command_id}
            ).first()
            if resolved is None or run.state not in ACTIVE:
                return False
            seq = int(run.last_seq) + 1
            append_event(conn, run_id, seq, "timer_fired", command_id, {"timer_id": command_id})
            mark_wake(conn, run_id, seq)
        return True

    def expired_claims(self, grace: float, limit: int) -> list[str]:
        with self.db.engine.connect() as conn:
            params = {"grace": grace, "limit": limit, "scope": self.scope}
            rows = execute(conn, Q.EXPIRED_CLAIMS, params)
            return [str(r.id) for r in rows]

    def tasks_to_publish(self, stale_after: float, cap: float, limit: int) -> list[TaskMessage]:
        params = {"stale": stale_after, "cap": cap, "limit": limit, "scope": self.scope}
        with self.db.engine.begin() as conn:
            rows = execute(conn, Q.TASKS_TO_PUBLISH, params)
            return [
                TaskMessage(
                    str(r.id),
                    str(r.run_id),
                    r.activity,
                    int(r.attempt),
                    r.queue,
                    r.priority,
                    float(r.timeout),
                )
                for r in rows
            ]

    def runs_to_wake(self, stale_after: float, cap: float, limit: int) -> list[str]:
        params = {"stale": stale_after, "cap": cap, "limit": limit, "scope": self.scope}
        with self.db.engine.begin() as conn:
            rows = execute(conn, Q.RUNS_TO_WAKE, params)
            return [str(r.id) for r in rows]

    def wake_blocked(self) -> list[str]:
        """Every blocked run, due now: a worker with new code may have just started."""
        with self.db.engine.begin() as conn:
            return [str(r.id) for r in execute(conn, Q.WAKE_BLOCKED, {"scope": self.scope})]

    def delete_finished(self, older_than: float, limit: int) -> int:
        """Delete up to ``limit`` finished runs older than ``older_than`` seconds, with
        every row they own, in one transaction; returns how many runs went."""
        with self.db.engine.begin() as conn:
            params = {"age": older_than, "limit": limit, "scope": self.scope}
            rows = execute(conn, Q.DELETE_FINISHED_RUNS, params)
            return len(rows.all())
