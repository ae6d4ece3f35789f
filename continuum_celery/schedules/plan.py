"""One upkeep pass over one due schedule: which ticks start runs, which wait,
which are skipped, dropped or missed, and where the schedule's cursor goes next.

Pure: the time is passed in, so tests drive it with any clock they like.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .overlap import Outcome, Step, on_tick, start_buffered
from .timing import Timing

MAX_TICKS_PER_PASS = 1000
"""Ticks one pass looks at per schedule; a longer outage is caught up over passes."""
_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Due:
    """A schedule as upkeep finds it: its cursor, memory and whether a run is open."""

    timing: Timing
    overlap: str
    next_tick: datetime | None
    buffered: tuple[datetime, ...]
    running: bool


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    buffered: list[datetime]
    skipped: int
    dropped: int
    missed: int
    next_tick: datetime | None
    next_fire_at: datetime | None


def plan(due: Due, now: datetime, limit: int = MAX_TICKS_PER_PASS) -> Plan:
    """Start a remembered tick if the open run ended, then take every tick whose
    fire time has come: those older than the catch-up window are missed, the rest
    go through the overlap policy in order."""
    outcome = Outcome(due.running, list(due.buffered))
    start_buffered(outcome)
    ticks = due.timing.ticks(due.next_tick - _BEFORE) if due.next_tick else ()
    missed, cursor = _take(due, ticks, now, limit, outcome)
    next_tick, next_fire = cursor or (None, None)
    return Plan(outcome.steps, outcome.buffered, outcome.skipped, outcome.dropped, missed,
                next_tick, next_fire)  # fmt: skip


def _take(
    due: Due,
    ticks: Iterable[tuple[datetime, datetime]],
    now: datetime,
    limit: int,
    outcome: Outcome,
) -> tuple[int, tuple[datetime, datetime] | None]:
    """Decide the due ticks; returns how many were missed and the first one left."""
    missed = 0
    for taken, (tick, fire) in enumerate(ticks):
        if fire > now or taken >= limit:
            return missed, (tick, fire)
        if now - fire > due.timing.catchup_window:
            missed += 1
        else:
            on_tick(due.overlap, tick, outcome)
    return missed, None


def backfill(due: Due, ticks: Iterable[datetime]) -> Outcome:
    """Every tick given, now, through the overlap policy (no catch-up window)."""
    outcome = Outcome(due.running, list(due.buffered))
    start_buffered(outcome)
    for tick in ticks:
        on_tick(due.overlap, tick, outcome)
    return outcome
