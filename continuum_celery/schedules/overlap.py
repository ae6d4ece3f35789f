"""What a tick does when the schedule's previous run is still open: Temporal's six
overlap policies, as decisions over plain values (no runs, no SQL).

- ``skip`` (default): start nothing; once the run ends, the next tick counts.
- ``buffer_one``: remember one tick and start it as soon as the run ends; ticks
  arriving while one is remembered are dropped.
- ``buffer_all``: remember every tick (up to ``BUFFER_LIMIT``) and start them one
  after another, each when the one before has ended.
- ``cancel_other``: ask the open run to cancel, and start the tick (remembered as
  with ``buffer_one``) once it has ended.
- ``terminate_other``: terminate the open run and start the tick at once.
- ``allow_all``: start every tick, whatever is running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..errors import InvalidSchedule

POLICIES = ("skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all")
BUFFER_LIMIT = 1000
"""Ticks a ``buffer_all`` schedule remembers; more are dropped and counted."""


def check_policy(policy: object, what: str = "overlap") -> str:
    if policy not in POLICIES:
        raise InvalidSchedule(f"{what} must be one of {', '.join(POLICIES)}, not {policy!r}")
    return str(policy)


@dataclass(frozen=True)
class Step:
    """One thing to do, in order: start the tick's run, or cancel or terminate the
    schedule's open run (the one started last)."""

    kind: Literal["start", "cancel", "terminate"]
    tick: datetime | None = None


@dataclass
class Outcome:
    """Steps decided so far, and what they leave behind."""

    running: bool
    buffered: list[datetime]
    steps: list[Step] = field(default_factory=list)
    skipped: int = 0
    dropped: int = 0

    def start(self, tick: datetime) -> None:
        self.steps.append(Step("start", tick))
        self.running = True


def start_buffered(outcome: Outcome) -> None:
    """The open run has ended: the first remembered tick starts now."""
    if not outcome.running and outcome.buffered:
        outcome.start(outcome.buffered.pop(0))


def on_tick(policy: str, tick: datetime, outcome: Outcome) -> None:
    """Decide one tick under ``policy``, given whether a run is open."""
    if policy == "allow_all" or not outcome.running:
        outcome.start(tick)
    elif policy == "skip":
        outcome.skipped += 1
    elif policy == "terminate_other":
        outcome.steps.append(Step("terminate"))
        outcome.start(tick)
    elif policy == "buffer_all":
        _remember(outcome, tick, BUFFER_LIMIT)
    else:  # buffer_one, cancel_other
        if policy == "cancel_other" and not outcome.buffered:
            outcome.steps.append(Step("cancel"))
        _remember(outcome, tick, 1)


def _remember(outcome: Outcome, tick: datetime, limit: int) -> None:
    if len(outcome.buffered) < limit:
        outcome.buffered.append(tick)
    else:
        outcome.dropped += 1
