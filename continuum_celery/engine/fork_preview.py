"""What a fork at a given seq would keep and what it would do again. Pure.

Before forking, an operator wants to know which steps the copy reuses (their
outcome is in the history before the cut, so replay reads it and nothing runs) and
which run again (scheduled before the cut with no outcome there, or decided at or
after it: the copy's replay decides them anew on today's code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .events import LIFECYCLE_TYPES, RESOLUTION_TYPES, Event
from .forking import plan

KINDS = {
    "activity_scheduled": "activity",
    "compensation_scheduled": "compensation",
    "timer_started": "timer",
    "signal_awaited": "signal",
    "child_started": "child",
    "side_effect": "side effect",
}


@dataclass(frozen=True)
class ForkStep:
    """One step of the original run, and whether a fork at the cut reuses it."""

    command_id: str
    kind: str
    name: str
    scheduled_seq: int
    outcome: str | None
    """The resolving event's type in the original (None: it never resolved)."""
    outcome_seq: int | None
    reused: bool


@dataclass(frozen=True)
class ForkPreview:
    at_seq: int
    kept_events: int
    """Events copied into the fork (the original's own lifecycle events left out)."""
    dropped_events: int
    reused: list[ForkStep]
    rerun: list[ForkStep]
    refusal: str | None
    """Why a fork at this seq would be refused (a child left unfinished), or None."""


def preview(history: Sequence[Event], at_seq: int) -> ForkPreview:
    """The steps a fork before ``at_seq`` reuses and re-runs; ValueError for a seq
    outside the history (as ``plan``)."""
    refusal = None
    try:
        plan(history, at_seq)
    except ValueError as error:
        if "child run" not in str(error):
            raise
        refusal = str(error)
    steps = _steps(history, at_seq)
    kept = sum(1 for e in history if e.seq < at_seq and e.type not in LIFECYCLE_TYPES)
    return ForkPreview(at_seq, kept, len(history) - kept, [s for s in steps if s.reused],
                       [s for s in steps if not s.reused], refusal)  # fmt: skip


def _steps(history: Sequence[Event], at_seq: int) -> list[ForkStep]:
    outcomes = {e.command_id: e for e in history if e.type in RESOLUTION_TYPES}
    return [_step(e, outcomes.get(e.command_id), at_seq)
            for e in history if e.type in KINDS and e.command_id]  # fmt: skip


def _step(decision: Event, outcome: Event | None, at_seq: int) -> ForkStep:
    data = decision.data
    name = str(data.get("activity") or data.get("name") or data.get("workflow") or "")
    if decision.type == "side_effect":
        reused = decision.seq < at_seq
    else:
        reused = outcome is not None and outcome.seq < at_seq
    return ForkStep(str(decision.command_id), KINDS[decision.type], name, decision.seq,
                    outcome.type if outcome else None, outcome.seq if outcome else None,
                    reused)  # fmt: skip
