"""Journal events as the engine sees them, and which of them are decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Written by a replay of the workflow itself, in code order: replay must reproduce
# them one by one, which is how drift is detected.
DECISION_TYPES = frozenset(
    {
        "activity_scheduled",
        "timer_started",
        "signal_awaited",
        "side_effect",
        "patched",
        "workflow_log",
        "child_started",
        "compensation_scheduled",
        "run_continued_as_new",
        "attributes_upserted",
    }
)
# Decisions that carry no effect of their own: code may add or drop them freely
# (adding a log line or removing a finished patch is not drift).
MARKER_TYPES = frozenset({"patched", "workflow_log"})
# Written by the outside world (a worker, a timer, a sender), matched by command id.
RESOLUTION_TYPES = frozenset(
    {
        "activity_completed",
        "activity_failed",
        "timer_fired",
        "signal_received",
        "child_completed",
        "child_failed",
        "child_cancelled",
        "compensation_completed",
        "compensation_failed",
    }
)

# Written about the run as a whole, by an operator or the engine. A replay reads
# ``cancel_requested`` (raising ``workflow.Cancelled`` at the wait the run was at)
# and skips the rest; none of them is ever a decision to match.
CANCEL_REQUESTED = "cancel_requested"
LIFECYCLE_TYPES = frozenset({CANCEL_REQUESTED, "run_terminated", "run_forked"})


@dataclass(frozen=True)
class Event:
    """One row of a run's journal; ``data`` is always a JSON object."""

    seq: int
    type: str
    command_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    def describe(self) -> str:
        """A short human label, used in drift messages and timelines."""
        return f"{self.type} {self.command_id}" if self.command_id else self.type
