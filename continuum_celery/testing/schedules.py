"""Schedules in the test environment: their ticks fire in virtual time.

Each schedule keeps a cursor as a ``cx_schedules`` row does; its next fire time
sits on the environment's timeline, so skipping time (auto or ``env.sleep``)
fires every tick on the way, in order. What a tick does comes from the planner
upkeep uses (``schedules.plan``, overlap policy and catch-up included), and a
tick's run gets the run id and attributes a worker would give it
(``tick_run_id``, ``schedule_id``, ``scheduled_time``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..definitions import Registry, Workflow
from ..errors import ScheduleExists, ScheduleNotFound, UnknownWorkflow
from ..journal.firing_steps import iso, tick_run_id
from ..payloads import normalize_args
from ..schedules import DEFAULT_CATCHUP_WINDOW, Due, Step, Timing, check_policy, plan
from ..scheduling import check_schedule_id
from ..starting import workflow_version
from .journal import MemoryJournal

_OPTIONS = ("args", "kwargs", "overlap", "catchup_window", "jitter", "tz", "dst_gap", "dst_fold")


@dataclass
class EnvSchedule:
    """One schedule's definition and cursor, as its journal row would hold them."""

    timing: Timing
    workflow: str
    args: list[Any]
    kwargs: dict[str, Any]
    overlap: str
    next_tick: datetime | None
    next_fire_at: datetime | None
    buffered: tuple[datetime, ...] = ()
    last_run_id: str | None = None
    skipped: int = 0
    missed: int = 0
    run_ids: list[str] = field(default_factory=list)


class EnvSchedules:
    """``env.schedules``: create schedules and see the runs their ticks started."""

    def __init__(self, registry: Registry, journal: MemoryJournal, max_payload_bytes: int) -> None:
        self.registry = registry
        self.journal = journal
        self.max_payload_bytes = max_payload_bytes
        self.by_id: dict[str, EnvSchedule] = {}

    def create(self, schedule_id: str, workflow: Workflow | str, spec: str | Sequence[str],
               **options: Any) -> EnvSchedule:  # fmt: skip
        """As ``cx.schedules.create``: the first tick is the first after now."""
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise TypeError(f"create() got unknown options: {', '.join(sorted(unknown))}")
        sid = check_schedule_id(schedule_id)
        if sid in self.by_id:
            raise ScheduleExists(f"schedule {sid} already exists")
        schedule = self._checked(sid, workflow, spec, options)
        self.by_id[sid] = schedule
        self._arm(sid, schedule)
        return schedule

    def _checked(self, sid: str, workflow: Workflow | str, spec: str | Sequence[str],
                 options: dict[str, Any]) -> EnvSchedule:  # fmt: skip
        name, version = workflow_version(self.registry, workflow)
        if version == 0:
            raise UnknownWorkflow(f"no workflow named {name!r} is registered")
        timing = Timing.checked(sid, spec, options.get("tz", "UTC"),
                                (options.get("dst_gap", "shift"), options.get("dst_fold", "once")),
                                options.get("jitter", 0.0),
                                options.get("catchup_window", DEFAULT_CATCHUP_WINDOW))  # fmt: skip
        overlap = check_policy(options.get("overlap", "skip"))
        what = f"arguments of schedule {sid}"
        args, kwargs = normalize_args(options.get("args", ()), options.get("kwargs"), what,
                                      self.max_payload_bytes)  # fmt: skip
        tick, fire = timing.first_after(self.journal.clock.now()) or (None, None)
        return EnvSchedule(timing, name, args, kwargs, overlap, tick, fire)

    def declare_all(self, declared: dict[str, dict[str, Any]]) -> None:
        """Schedules declared with ``@cx.schedule``, created as worker start would."""
        for sid, options in declared.items():
            rest = {k: v for k, v in options.items() if k not in ("workflow", "spec")}
            self.create(sid, options["workflow"], options["spec"], **rest)

    def get(self, schedule_id: str) -> EnvSchedule:
        schedule = self.by_id.get(schedule_id)
        if schedule is None:
            raise ScheduleNotFound(f"no schedule with id {schedule_id} in this environment")
        return schedule

    def runs(self, schedule_id: str) -> list[str]:
        """Run ids the schedule's ticks started, oldest first."""
        return list(self.get(schedule_id).run_ids)

    # --- firing -------------------------------------------------------------------------

    def _arm(self, sid: str, schedule: EnvSchedule) -> None:
        """Put the schedule's next fire time on the timeline (in the background: a
        schedule alone does not keep a run's drive going)."""
        if schedule.next_fire_at is not None:
            self.journal.timeline.add(schedule.next_fire_at, lambda: self.fire(sid),
                                      background=True)  # fmt: skip

    def fire(self, sid: str) -> None:
        """One upkeep pass over this schedule at the virtual now."""
        schedule = self.by_id.get(sid)
        if schedule is None:
            return
        p = plan(self._due(schedule), self.journal.clock.now())
        self._apply(schedule, p.steps)
        schedule.buffered = tuple(p.buffered)
        schedule.next_tick, schedule.next_fire_at = p.next_tick, p.next_fire_at
        schedule.skipped += p.skipped
        schedule.missed += p.missed
        self._arm(sid, schedule)

    def settle_buffered(self) -> bool:
        """Start remembered ticks of schedules whose open run has ended, as upkeep
        does; True if one started."""
        started = False
        for schedule in self.by_id.values():
            if schedule.buffered and not self._open(schedule):
                p = plan(self._due(schedule), self.journal.clock.now(), limit=0)
                self._apply(schedule, p.steps)
                schedule.buffered, started = tuple(p.buffered), True
        return started

    def _due(self, schedule: EnvSchedule) -> Due:
        running = schedule.overlap != "allow_all" and self._open(schedule)
        return Due(schedule.timing, schedule.overlap, schedule.next_tick, schedule.buffered,
                   running)  # fmt: skip

    def _open(self, schedule: EnvSchedule) -> bool:
        if schedule.last_run_id is None:
            return False
        return self.journal.runs.tip(schedule.last_run_id).active

    def _apply(self, schedule: EnvSchedule, steps: list[Step]) -> None:
        for step in steps:
            if step.kind == "start" and step.tick is not None:
                self._start(schedule, step.tick)
            elif schedule.last_run_id is not None:
                self._end_open(schedule, step.kind)

    def _start(self, schedule: EnvSchedule, tick: datetime) -> None:
        run_id = tick_run_id(schedule.timing.schedule_id, tick)
        schedule.last_run_id = run_id
        if run_id in self.journal.runs.by_id:
            return  # the tick already ran (a trigger or a restart would find it taken)
        version = workflow_version(self.registry, schedule.workflow)[1]
        data = {"workflow": schedule.workflow, "child_run_id": run_id, "version": version,
                "args": schedule.args, "kwargs": schedule.kwargs}  # fmt: skip
        attributes = {"schedule_id": schedule.timing.schedule_id, "scheduled_time": iso(tick)}
        self.journal.spawn(data, attributes, continued_from=None)
        schedule.run_ids.append(run_id)

    def _end_open(self, schedule: EnvSchedule, kind: str) -> None:
        assert schedule.last_run_id is not None
        tip = self.journal.runs.tip(schedule.last_run_id)
        if not tip.active:
            return
        by, why = f"schedule {schedule.timing.schedule_id}", f"overlap policy {schedule.overlap}"
        if kind == "cancel":
            self.journal.cancel(tip.run_id, why, by)
        else:
            self.journal.terminate(tip.run_id, why, by)
