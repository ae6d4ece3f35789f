"""``cx.schedules``: durable cron and interval starts, instead of ``celery beat``.

Everything a caller passes is checked before anything is written (specs, zone,
policy, windows, arguments), so a refused call leaves nothing behind. Upkeep in
the workers fires the ticks (``runtime/schedules.py``); this is the API around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .checks import check_workflow_name
from .definitions import Workflow
from .errors import InvalidSchedule
from .journal.firing import ScheduleFiring, timing_of
from .journal.schedules import ScheduleDefinition, ScheduleStore
from .payloads import check_text, normalize_args
from .runtime.schedules import fire_schedules
from .runtime.transport import wake_all
from .schedule_views import Schedule, ScheduleDescription, described, public_schedule
from .schedules import DEFAULT_CATCHUP_WINDOW, Timing, check_policy, next_ticks, ticks_between

if TYPE_CHECKING:
    from .core import Continuum

MAX_SCHEDULE_ID = 128
MAX_BACKFILL = 10_000
"""Ticks one backfill starts at most; split a longer range into several calls."""
_OPTIONS = ("args", "kwargs", "overlap", "catchup_window", "jitter", "tz", "dst_gap", "dst_fold")


def check_schedule_id(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"schedule id must be a str, not {value!r}")
    if not 0 < len(value) <= MAX_SCHEDULE_ID or not value.isprintable():
        raise InvalidSchedule(f"schedule id must be 1 to {MAX_SCHEDULE_ID} printable "
                              f"characters, not {value!r}")  # fmt: skip
    return check_text(value, "schedule id")


def _aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidSchedule(f"{what} must be a timezone-aware datetime, not {value!r}")
    return value


class Schedules:
    """Create, change, pause, trigger, backfill, delete, list and describe schedules."""

    def __init__(self, cx: Continuum) -> None:
        self._cx = cx
        self.store = ScheduleStore(cx.db)
        self.firing = ScheduleFiring(cx.db, cx.scope)
        self.declared: dict[str, dict[str, Any]] = {}
        """Schedules declared with ``@cx.schedule``, written at worker start."""

    # --- defining -----------------------------------------------------------------------

    def create(
        self,
        schedule_id: str,
        workflow: Workflow | str,
        spec: str | Sequence[str],
        *,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        overlap: str = "skip",
        catchup_window: timedelta | float = DEFAULT_CATCHUP_WINDOW,
        jitter: timedelta | float = 0.0,
        tz: str = "UTC",
        dst_gap: str = "shift",
        dst_fold: str = "once",
        paused: bool = False,
        note: str | None = None,
    ) -> Schedule:
        """A new schedule; ScheduleExists if the id is taken. See docs/schedules.md."""
        d = self._definition(schedule_id, workflow, spec, args=args, kwargs=kwargs,
                             overlap=overlap, catchup_window=catchup_window, jitter=jitter,
                             tz=tz, dst_gap=dst_gap, dst_fold=dst_fold)  # fmt: skip
        note = None if note is None else check_text(note, "note")
        self._cx.schema.check()
        self.store.create(d, bool(paused), note)
        return self.get(d.id)

    def update(self, schedule_id: str, **changes: Any) -> Schedule:
        """Change some of ``workflow``, ``spec`` and the options ``create`` takes.
        The next tick stays where it was unless the timing changed."""
        unknown = set(changes) - {"workflow", "spec", *_OPTIONS}
        if unknown:
            raise TypeError(f"update() got unknown options: {', '.join(sorted(unknown))}")
        current = self.store.get(check_schedule_id(schedule_id))
        merged: dict[str, Any] = {"workflow": current.workflow, "spec": current.specs}
        merged.update({option: getattr(current, option) for option in _OPTIONS})
        merged.update(changes)
        d = self._definition(schedule_id, **merged)
        self.store.update(d)
        return self.get(d.id)

    def declare(self, spec: str | Sequence[str], schedule_id: str | None, **options: Any) -> Any:
        """``@cx.schedule(...)``: checked now, created or updated at worker start."""
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise TypeError(f"schedule() got unknown options: {', '.join(sorted(unknown))}")

        def attach(wf: Any) -> Any:
            if not isinstance(wf, Workflow):
                raise TypeError("@cx.schedule(...) goes above @cx.workflow(): it schedules "
                                f"a declared workflow, not {wf!r}")  # fmt: skip
            sid = schedule_id or wf.name
            self._definition(sid, wf, spec, **options)
            self.declared[sid] = {"workflow": wf.name, "spec": spec, **options}
            return wf

        return attach

    def apply_declared(self) -> None:
        """At worker start: create or update every declared schedule (its cursor is
        kept, so ticks due while every worker was down are caught up)."""
        for sid, declared in self.declared.items():
            self.store.upsert(self._definition(sid, **declared))

    def _definition(self, schedule_id: str, workflow: Workflow | str,
                    spec: str | Sequence[str], **options: Any) -> ScheduleDefinition:  # fmt: skip
        sid = check_schedule_id(schedule_id)
        name = workflow.name if isinstance(workflow, Workflow) else check_workflow_name(workflow)
        timing = Timing.checked(sid, spec, options.get("tz", "UTC"),
                                (options.get("dst_gap", "shift"), options.get("dst_fold", "once")),
                                options.get("jitter", 0.0),
                                options.get("catchup_window", DEFAULT_CATCHUP_WINDOW))  # fmt: skip
        overlap = check_policy(options.get("overlap", "skip"))
        what, limit = f"arguments of schedule {sid}", self._cx.max_payload_bytes
        args, kwargs = normalize_args(options.get("args", ()), options.get("kwargs"), what, limit)
        tick, fire = timing.first_after(datetime.now(UTC)) or (None, None)
        return ScheduleDefinition(sid, name, timing.spec_texts, timing.tz.key, timing.rule.gap,
                                  timing.rule.fold, args, kwargs, overlap,
                                  timing.catchup_window.total_seconds(),
                                  timing.jitter.total_seconds(), tick, fire,
                                  self._cx.scope)  # fmt: skip

    # --- operating ----------------------------------------------------------------------

    def pause(self, schedule_id: str, note: str | None = None) -> None:
        """No tick fires until ``unpause``; ``note`` says why (shown by describe)."""
        note = None if note is None else check_text(note, "note")
        self.store.pause(check_schedule_id(schedule_id), note)

    def unpause(self, schedule_id: str, note: str | None = None) -> None:
        """Fire again from the next tick on; ticks that came while paused are not run."""
        note = None if note is None else check_text(note, "note")
        record = self.store.get(check_schedule_id(schedule_id))
        self.store.unpause(record.id, note, timing_of(record).first_after(datetime.now(UTC)))

    def trigger(self, schedule_id: str, overlap: str | None = None) -> str | None:
        """One run now, through ``overlap`` (default: the schedule's); its run id, or
        None when the policy did not start it (skipped or buffered)."""
        overlap = None if overlap is None else check_policy(overlap)
        now = datetime.now(UTC)
        started = self._start_now(check_schedule_id(schedule_id), [now], overlap, now, "trigger")
        return started[0] if started else None

    def backfill(
        self, schedule_id: str, start: datetime, end: datetime, overlap: str | None = None
    ) -> list[str]:
        """Every tick in ``[start, end)`` now, through ``overlap`` (default: the
        schedule's), with the run ids the ticks themselves would have: a tick that
        already ran is not run again. Returns the ticks' run ids that started."""
        start, end = _aware(start, "start"), _aware(end, "end")
        if end <= start:
            raise InvalidSchedule(f"backfill needs start < end, not {start} .. {end}")
        overlap = None if overlap is None else check_policy(overlap)
        record = self.store.get(check_schedule_id(schedule_id))
        t = timing_of(record)
        ticks: list[datetime] = []
        for tick in ticks_between(t.specs, t.tz, t.rule, start, end):
            if len(ticks) == MAX_BACKFILL:
                raise InvalidSchedule(f"backfill covers more than {MAX_BACKFILL} ticks; "
                                      "split the range")  # fmt: skip
            ticks.append(tick)
        return self._start_now(record.id, ticks, overlap, datetime.now(UTC), "backfill")

    def _start_now(self, sid: str, ticks: list[datetime], overlap: str | None, now: datetime,
                   via: str) -> list[str]:  # fmt: skip
        self._cx.schema.check()
        started, woken = self.firing.start_now(sid, ticks, overlap, now, via)
        wake_all(self._cx.outbox, woken)
        return started

    def delete(self, schedule_id: str) -> None:
        """No more ticks; runs it started are left alone."""
        self.store.delete(check_schedule_id(schedule_id))

    def fire(self, now: datetime | None = None) -> int:
        """One upkeep pass over due schedules (workers do this by themselves)."""
        now = None if now is None else _aware(now, "now")
        self._cx.schema.check()
        return fire_schedules(self.firing, self._cx.outbox, now)

    # --- reading ------------------------------------------------------------------------

    def get(self, schedule_id: str) -> Schedule:
        return public_schedule(self.store.get(check_schedule_id(schedule_id)))

    def list(self, limit: int = 100, after: str = "") -> list[Schedule]:
        """Schedules by id, ``limit`` at a time, from after the id ``after``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 10_000:
            raise ValueError(f"limit must be an int from 1 to 10000, not {limit!r}")
        self._cx.schema.check()
        return [public_schedule(r) for r in self.store.list(after, limit)]

    def describe(self, schedule_id: str, upcoming: int = 5) -> ScheduleDescription:
        """Counters, buffered ticks, recent actions and the next ``upcoming`` ticks."""
        record = self.store.get(check_schedule_id(schedule_id))
        t = timing_of(record)
        start = record.next_tick or datetime.now(UTC)
        nexts = next_ticks(t.specs, t.tz, t.rule, start - timedelta(microseconds=1), upcoming)
        return described(record, [] if record.next_tick is None else nexts)
