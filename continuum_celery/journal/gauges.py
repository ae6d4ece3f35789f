"""What metrics read from the journal itself: due waits and skipped schedule ticks.

Read by the upkeep leader once per full sweep, and only when metrics are on; both
statements use indexes upkeep already keeps (due waits) or a table with one row
per schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import queries as Q
from .db import Database, execute


@dataclass(frozen=True)
class Backlog:
    due_waits: int
    """Timers and signal timeouts past their time and not fired yet."""
    lag: float
    """Seconds the oldest of them is late (0 when none is)."""
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    """Skipped schedule ticks so far, per workflow, per reason (overlap, catchup, buffer)."""


def read_backlog(db: Database, scope: str) -> Backlog:
    with db.engine.connect() as conn:
        due = execute(conn, Q.DUE_WAITS_BACKLOG, {"scope": scope}).one()
        rows = execute(conn, Q.SCHEDULE_SKIPS, {"scope": scope}).all()
    skipped = {
        str(r.workflow): {"overlap": int(r.overlap), "catchup": int(r.catchup),
                          "buffer": int(r.buffer)}
        for r in rows
    }  # fmt: skip
    return Backlog(int(due.due), float(due.lag), skipped)
