"""What ``cx.schedules`` returns: a schedule as stored, and one described."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .journal.schedules import ScheduleRecord


@dataclass(frozen=True)
class Schedule:
    schedule_id: str
    workflow: str
    specs: list[str]
    tz: str
    overlap: str
    catchup_window: float
    jitter: float
    dst_gap: str
    dst_fold: str
    args: list[Any]
    kwargs: dict[str, Any]
    paused: bool
    note: str | None
    next_fire_at: datetime | None
    """When upkeep next acts: the next tick plus its jitter."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ScheduleDescription:
    """A schedule with its counters (Temporal's names), buffer, recent and next ticks."""

    schedule: Schedule
    actions: int
    """Runs the schedule started."""
    missed_catchup: int
    """Ticks that came due longer than ``catchup_window`` ago (say, all workers down)."""
    overlap_skipped: int
    """Ticks not started because a run was open (``skip``)."""
    buffer_dropped: int
    """Ticks not remembered because the buffer was full."""
    buffered: list[datetime]
    last_run_id: str | None
    recent_actions: list[dict[str, Any]] = field(default_factory=list)
    next_fire_times: list[datetime] = field(default_factory=list)
    """The next nominal ticks (before jitter), from the cursor on."""


def public_schedule(r: ScheduleRecord) -> Schedule:
    return Schedule(r.id, r.workflow, r.specs, r.tz, r.overlap, r.catchup_window, r.jitter,
                    r.dst_gap, r.dst_fold, r.args, r.kwargs, r.paused, r.note, r.next_fire_at,
                    r.created_at, r.updated_at)  # fmt: skip


def described(r: ScheduleRecord, upcoming: list[datetime]) -> ScheduleDescription:
    buffered = [datetime.fromisoformat(t) for t in r.buffered]
    return ScheduleDescription(public_schedule(r), r.actions, r.missed_catchup,
                               r.overlap_skipped, r.buffer_dropped, buffered, r.last_run_id,
                               r.recent_actions, upcoming)  # fmt: skip
