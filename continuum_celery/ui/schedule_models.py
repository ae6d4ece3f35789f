"""The JSON shapes of schedules as the UI shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ..schedule_views import ScheduleDescription


class ScheduleOut(BaseModel):
    schedule_id: str
    workflow: str
    specs: list[str]
    tz: str
    overlap: str
    paused: bool
    note: str | None
    next_fire_at: datetime | None
    next_fire_times: list[datetime]
    actions: int
    missed_catchup: int
    overlap_skipped: int
    buffer_dropped: int
    last_run_id: str | None
    runs_query: str
    """The runs index query for the runs this schedule started."""

    @classmethod
    def of(cls, d: ScheduleDescription) -> ScheduleOut:
        s = d.schedule
        return cls(schedule_id=s.schedule_id, workflow=s.workflow, specs=s.specs, tz=s.tz,
                   overlap=s.overlap, paused=s.paused, note=s.note, next_fire_at=s.next_fire_at,
                   next_fire_times=d.next_fire_times, actions=d.actions,
                   missed_catchup=d.missed_catchup, overlap_skipped=d.overlap_skipped,
                   buffer_dropped=d.buffer_dropped, last_run_id=d.last_run_id,
                   runs_query=runs_query(s.schedule_id))  # fmt: skip


class ScheduleActionOut(BaseModel):
    schedule_id: str
    action: str
    detail: str
    run_id: str | None = None


def runs_query(schedule_id: str) -> str:
    """The runs a schedule started carry its id as the ``schedule_id`` attribute."""
    escaped = schedule_id.replace("\\", "\\\\").replace('"', '\\"')
    return f'attributes.schedule_id = "{escaped}"'
