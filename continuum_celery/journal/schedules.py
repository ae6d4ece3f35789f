"""Schedules' rows: create, update, pause, delete and read (firing is ``firing.py``).

A definition carries its first cursor (``next_tick``, ``next_fire_at``), computed
by the caller from the time of the call. An update keeps the cursor unless the
timing changed, so a worker redeclaring its schedules at start loses no tick that
came due while every worker was down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import ScheduleExists, ScheduleNotFound
from .db import Database, Record, execute
from .queries import q
from .records import DEFAULT_SCOPE
from .rows import dumps

INSERT_SCHEDULE = q(
    "INSERT INTO cx_schedules (id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs,"
    " overlap, catchup_window, jitter, paused, note, next_tick, next_fire_at, scope)"
    " VALUES (:id, :workflow, CAST(:specs AS jsonb), :tz, :dst_gap, :dst_fold,"
    " CAST(:args AS jsonb), CAST(:kwargs AS jsonb), :overlap, :catchup_window, :jitter,"
    " :paused, :note, :next_tick, :next_fire_at, :scope)"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
# The cursor moves only when the timing changed; otherwise ticks still due stay due.
# A schedule is changed only by its own app's scope: another app declaring the same
# id is refused rather than taking it over.
UPDATE_SCHEDULE = q(
    "UPDATE cx_schedules SET"
    " next_tick = CASE WHEN specs = CAST(:specs AS jsonb) AND tz = :tz AND dst_gap = :dst_gap"
    " AND dst_fold = :dst_fold AND jitter = :jitter THEN next_tick ELSE :next_tick END,"
    " next_fire_at = CASE WHEN specs = CAST(:specs AS jsonb) AND tz = :tz"
    " AND dst_gap = :dst_gap AND dst_fold = :dst_fold AND jitter = :jitter"
    " THEN next_fire_at ELSE :next_fire_at END,"
    " workflow = :workflow, specs = CAST(:specs AS jsonb), tz = :tz, dst_gap = :dst_gap,"
    " dst_fold = :dst_fold, args = CAST(:args AS jsonb), kwargs = CAST(:kwargs AS jsonb),"
    " overlap = :overlap, catchup_window = :catchup_window, jitter = :jitter,"
    " updated_at = clock_timestamp()"
    " WHERE id = :id AND scope = :scope RETURNING id"
)
PAUSE_SCHEDULE = q(
    "UPDATE cx_schedules SET paused = true, note = :note, updated_at = clock_timestamp()"
    " WHERE id = :id RETURNING id"
)
# Ticks that came while paused are not missed: the cursor restarts from now.
UNPAUSE_SCHEDULE = q(
    "UPDATE cx_schedules SET paused = false, note = :note, next_tick = :next_tick,"
    " next_fire_at = :next_fire_at, updated_at = clock_timestamp()"
    " WHERE id = :id AND paused RETURNING id"
)
DELETE_SCHEDULE = q("DELETE FROM cx_schedules WHERE id = :id RETURNING id")
GET_SCHEDULE = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, recent_actions, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE id = :id"
)
LIST_SCHEDULES = q(
    "SELECT id, workflow, specs, tz, dst_gap, dst_fold, args, kwargs, overlap, catchup_window,"
    " jitter, paused, note, next_tick, next_fire_at, last_run_id, buffered, actions,"
    " missed_catchup, overlap_skipped, buffer_dropped, recent_actions, created_at, updated_at,"
    " scope"
    " FROM cx_schedules WHERE id > :after ORDER BY id LIMIT :limit"
)


@dataclass(frozen=True)
class ScheduleDefinition:
    """What a caller sets, checked, plus the cursor it starts from."""

    id: str
    workflow: str
    specs: list[str]
    tz: str
    dst_gap: str
    dst_fold: str
    args: list[Any]
    kwargs: dict[str, Any]
    overlap: str
    catchup_window: float
    jitter: float
    next_tick: datetime | None
    next_fire_at: datetime | None
    scope: str = DEFAULT_SCOPE
    """The app scope (``Continuum(scope=)``) whose upkeep fires it."""


@dataclass(frozen=True)
class ScheduleRecord:
    id: str
    workflow: str
    specs: list[str]
    tz: str
    dst_gap: str
    dst_fold: str
    args: list[Any]
    kwargs: dict[str, Any]
    overlap: str
    catchup_window: float
    jitter: float
    paused: bool
    note: str | None
    next_tick: datetime | None
    next_fire_at: datetime | None
    last_run_id: str | None
    buffered: list[str]
    actions: int
    missed_catchup: int
    overlap_skipped: int
    buffer_dropped: int
    recent_actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    scope: str


def schedule_record(row: Record) -> ScheduleRecord:
    return ScheduleRecord(*row)


def _params(d: ScheduleDefinition) -> dict[str, Any]:
    params = dict(d.__dict__)
    params.update(specs=dumps(d.specs), args=dumps(d.args), kwargs=dumps(d.kwargs))
    return params


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, d: ScheduleDefinition, paused: bool = False, note: str | None = None) -> None:
        with self.db.transaction() as conn:
            params = {**_params(d), "paused": paused, "note": note}
            if execute(conn, INSERT_SCHEDULE, params).first() is None:
                raise ScheduleExists(f"schedule {d.id} already exists; update it instead")

    def update(self, d: ScheduleDefinition) -> None:
        with self.db.transaction() as conn:
            _found(execute(conn, UPDATE_SCHEDULE, _params(d)).first(), d.id)

    def upsert(self, d: ScheduleDefinition) -> bool:
        """Create, or update keeping the cursor; True when it was created."""
        with self.db.transaction() as conn:
            params = {**_params(d), "paused": False, "note": None}
            if execute(conn, INSERT_SCHEDULE, params).first() is not None:
                return True
            if execute(conn, UPDATE_SCHEDULE, _params(d)).first() is None:
                raise ScheduleExists(f"schedule {d.id} belongs to another app's scope")
            return False

    def pause(self, schedule_id: str, note: str | None) -> None:
        with self.db.transaction() as conn:
            found = execute(conn, PAUSE_SCHEDULE, {"id": schedule_id, "note": note}).first()
        _found(found, schedule_id)

    def unpause(
        self, schedule_id: str, note: str | None, cursor: tuple[datetime, datetime] | None
    ) -> bool:
        """False when the schedule was not paused (nothing changes then)."""
        tick, fire = cursor or (None, None)
        params = {"id": schedule_id, "note": note, "next_tick": tick, "next_fire_at": fire}
        with self.db.transaction() as conn:
            return execute(conn, UNPAUSE_SCHEDULE, params).first() is not None

    def delete(self, schedule_id: str) -> None:
        with self.db.transaction() as conn:
            _found(execute(conn, DELETE_SCHEDULE, {"id": schedule_id}).first(), schedule_id)

    def get(self, schedule_id: str) -> ScheduleRecord:
        with self.db.engine.connect() as conn:
            row = execute(conn, GET_SCHEDULE, {"id": schedule_id}).first()
        return schedule_record(_found(row, schedule_id))

    def list(self, after: str = "", limit: int = 100) -> list[ScheduleRecord]:
        with self.db.engine.connect() as conn:
            rows = execute(conn, LIST_SCHEDULES, {"after": after, "limit": limit})
            return [schedule_record(row) for row in rows]


def _found(row: Record | None, schedule_id: str) -> Record:
    if row is None:
        raise ScheduleNotFound(f"no schedule with id {schedule_id}")
    return row
