"""Firing schedules from upkeep: a plain function of the time, then the wakeups.

Upkeep calls ``fire_schedules`` on every step (the leader's timer step, which the
full sweep includes); tests call it with any ``now`` they like. Exactly-once rests
on the journal (row locks and derived run ids), so several processes calling it
at once is safe, only wasteful.
"""

from __future__ import annotations

from datetime import datetime

from ..journal.firing import ScheduleFiring
from .transport import Publisher, wake_all

BATCH = 500
"""Schedules one pass fires at most; more due ones wait for the next pass."""


def fire_schedules(
    firing: ScheduleFiring, publisher: Publisher, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Start every due tick's run (and buffered ones whose turn came) as of ``now``
    (default: the database clock); returns how many runs were started or woken.
    Wakeups go out after the commit, many to a message where the publisher can:
    10,000 schedules due on one minute must not wait on 10,000 broker round trips."""
    woken = firing.fire_due(now, batch)
    wake_all(publisher, woken)
    return len(woken)


class ScheduleUpkeep:
    """``fire_schedules`` bound to a database and a publisher, for the sweeper."""

    def __init__(self, firing: ScheduleFiring, publisher: Publisher, batch: int = BATCH) -> None:
        self.firing, self.publisher, self.batch = firing, publisher, batch

    def fire_schedules(self, now: datetime | None = None) -> int:
        return fire_schedules(self.firing, self.publisher, now, self.batch)
