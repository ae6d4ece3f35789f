"""A run drawn in time: one bar per activity attempt, timer, signal wait and child.

Pure: the page hands in the run, its history and its attempts; out come rows with
their start and width as fractions of the run's span, drawn as SVG attributes (no
inline style or script, which the CSP forbids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..client import Run
from ..engine.events import Event
from ..views import Attempt

WAITS = {"timer_started": "timer", "signal_awaited": "signal", "child_started": "child"}
ENDS = {"timer_fired": "fired", "signal_received": "received", "child_completed": "completed",
        "child_failed": "failed", "child_cancelled": "cancelled"}  # fmt: skip
MIN_WIDTH = 0.4
"""Percent: a bar of a few milliseconds in an hour-long run stays visible."""


@dataclass(frozen=True)
class Bar:
    kind: str
    label: str
    outcome: str
    start: datetime
    end: datetime
    left: float
    """Percent of the span from the run's start."""
    width: float
    retry: bool = False
    task_id: str | None = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def bars(run: Run, history: list[Event], attempts: list[Attempt], now: datetime) -> list[Bar]:
    """Every bar of the run, in the order it started."""
    t0 = run.created_at
    end = max([run.completed_at or now, *(a.finished_at or now for a in attempts)])
    span = max((end - t0).total_seconds(), 1e-3)
    found = [_attempt(a, t0, span, now) for a in attempts]
    found += _waits(history, t0, span, run.completed_at or now)
    return sorted(found, key=lambda b: (b.start, b.label))


def _place(start: datetime, end: datetime, t0: datetime, span: float) -> tuple[float, float]:
    left = min(max((start - t0).total_seconds() / span * 100, 0.0), 100.0)
    width = max((end - start).total_seconds() / span * 100, MIN_WIDTH)
    return round(left, 3), round(min(width, 100.0 - left + MIN_WIDTH), 3)


def _attempt(a: Attempt, t0: datetime, span: float, now: datetime) -> Bar:
    end = a.finished_at or now
    left, width = _place(a.started_at, end, t0, span)
    label = f"{a.activity.rsplit('.', 1)[-1]} #{a.attempt}"  # the attempt stays visible
    return Bar("activity", label, a.outcome or "running", a.started_at, end, left, width,
               retry=a.attempt > 1, task_id=a.celery_task_id, error=a.error)  # fmt: skip


def _waits(history: list[Event], t0: datetime, span: float, until: datetime) -> list[Bar]:
    opened: dict[str, Event] = {}
    closed: dict[str, Event] = {}
    for e in history:
        if e.type in WAITS and e.command_id:
            opened.setdefault(e.command_id, e)
        elif e.type in ENDS and e.command_id in opened:
            closed.setdefault(e.command_id, e)
    return [_wait(e, closed.get(cid), t0, span, until) for cid, e in opened.items()
            if e.created_at is not None]  # fmt: skip


def _wait(opened: Event, closed: Event | None, t0: datetime, span: float, until: datetime) -> Bar:
    assert opened.created_at is not None
    end = closed.created_at if closed and closed.created_at else until
    left, width = _place(opened.created_at, end, t0, span)
    kind = WAITS[opened.type]
    seconds = opened.data.get("seconds")
    name = (
        opened.data.get("name")
        or opened.data.get("workflow")
        or (f"{seconds:g}s" if isinstance(seconds, int | float) else opened.command_id)
    )
    outcome = ENDS[closed.type] if closed else "waiting"
    if closed and closed.type == "timer_fired" and kind == "signal":
        outcome = "timed out"
    return Bar(kind, f"{kind} {name}", outcome, opened.created_at, end, left, width)
