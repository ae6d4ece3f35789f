"""Where a fork cuts a run's history, and what the copy still has to do. Pure.

A fork is a new run of the same workflow and input holding a copy of the
original's history before ``at_seq``; it replays on today's code. Decisions the
copy holds without their resolution (an activity scheduled, a timer started, a
signal awaited) are pending work the fork has to redo: the journal recreates
their task and wait rows. A child run is the one thing a fork cannot redo: the
child belongs to the original, so a cut that leaves one unfinished is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .events import DECISION_TYPES, LIFECYCLE_TYPES, Event

_DRIFT_SEQ = re.compile(r"ReplayDriftError: seq (\d+) ")
_TASKS = frozenset({"activity_scheduled", "compensation_scheduled"})
_WAITS = frozenset({"timer_started", "signal_awaited"})
_AWAITING = _TASKS | _WAITS | {"child_started"}
"""Decisions that wait for an outcome (side effects and markers are done at once)."""


@dataclass(frozen=True)
class ForkPlan:
    at_seq: int
    events: list[Event]
    """The copy, renumbered 1..n (lifecycle events of the original are left out)."""
    tasks: list[Event]
    """Scheduling decisions in the copy with no outcome: their activities run again."""
    waits: list[Event]
    """Timers and signal waits in the copy still open: they are opened again."""


def default_cut(state: str, error: str | None, history: Sequence[Event]) -> int:
    """Where "from the failure" is: the failed activity's scheduling, the drift
    point, or else (a workflow error, or a run that ended well) the whole history."""
    last = history[-1].seq if history else 0
    drift = _DRIFT_SEQ.match(error or "")
    if drift is not None:
        return int(drift.group(1))
    if state == "failed" and (error or "").startswith("ActivityFailed"):
        failed = [e for e in history if e.type == "activity_failed"]
        if failed:
            return _scheduled_at(history, failed[-1].command_id) or last + 1
    return last + 1


def plan(history: Sequence[Event], at_seq: int) -> ForkPlan:
    """Cut before ``at_seq``; raises ValueError for a cut a fork cannot take."""
    last = history[-1].seq if history else 0
    if isinstance(at_seq, bool) or not isinstance(at_seq, int) or not 1 <= at_seq <= last + 1:
        raise ValueError(f"at_seq must be an int from 1 to {last + 1}, not {at_seq!r}")
    kept = [e for e in history if e.seq < at_seq and e.type not in LIFECYCLE_TYPES]
    open_ = _unresolved(kept)
    children = [e.command_id for e in open_ if e.type == "child_started"]
    if children:
        raise ValueError(
            f"cannot fork before seq {at_seq}: child run(s) {children} would be left "
            "unfinished; fork before they were started, or after they ended"
        )
    events = [replace(e, seq=i) for i, e in enumerate(kept, start=1)]
    pending = _unresolved(events)
    return ForkPlan(at_seq, events, [e for e in pending if e.type in _TASKS],
                    [e for e in pending if e.type in _WAITS])  # fmt: skip


def _unresolved(events: Sequence[Event]) -> list[Event]:
    resolved = {e.command_id for e in events if e.type not in DECISION_TYPES}
    return [e for e in events if e.type in _AWAITING and e.command_id not in resolved]


def _scheduled_at(history: Sequence[Event], command_id: str | None) -> int | None:
    for event in history:
        if event.type in _TASKS and event.command_id == command_id:
            return event.seq
    return None
