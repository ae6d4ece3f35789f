"""Replay one recorded run against today's code and judge it: clean, or a drift.

The replay is the engine's own (``engine/replay.py``): the same ``ReplayState``
and the same pass a worker runs, so anything a worker would hold ``blocked`` after
a deploy is reported here first. On top of what a worker checks, a run that has
ended must end the same way again: today's code may not ask for new effects past
its recorded end, nor end it differently (completed vs failed, ...). The value a
run returned is not compared: that may change without stranding anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..engine.commands import (
    CancelledOutcome,
    Completed,
    Continued,
    Decision,
    Failed,
    Outcome,
    Suspended,
)
from ..engine.context import ReplayState
from ..engine.events import MARKER_TYPES
from ..engine.replay import conclude, run_workflow
from ..payloads import private_copy
from .recordings import Recording

ENDINGS: dict[str, type[Any]] = {
    "completed": Completed,
    "failed": Failed,
    "cancelled": CancelledOutcome,
    "continued": Continued,
}
"""A run in one of these states ended through the workflow's code: it must again."""


@dataclass(frozen=True)
class Drift:
    """Where today's code leaves a recorded run: the position (``seq``; None when
    it is not one event), what the journal holds there and what the code did."""

    run_id: str
    workflow: str
    seq: int | None
    expected: str
    actual: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "seq -"
        run = f"run {self.run_id} ({self.workflow})"
        return f"{run} {where}: expected {self.expected}, got {self.actual}"


class ReplayOnly:
    """Live sources for a check: values reached past the recorded end are new
    decisions, which are judged by their kind, never by these values."""

    def now(self) -> datetime:
        return datetime(2000, 1, 1, tzinfo=UTC)

    def uuid4(self) -> str:
        return "00000000-0000-4000-8000-000000000000"

    def random(self) -> float:
        return 0.0


def replay_recording(
    recording: Recording, fn: Callable[..., Any], max_payload_bytes: int, guarded: bool
) -> tuple[Decision, ReplayState]:
    """``engine.replay.replay``, keeping its state: the drift with its position."""
    state = ReplayState(recording.events, recording.info(), ReplayOnly(), max_payload_bytes,
                        guarded)  # fmt: skip
    args, kwargs = private_copy(list(recording.args)), private_copy(recording.kwargs)
    return conclude(state, run_workflow(state, lambda: fn(*args, **kwargs))), state


def judge(recording: Recording, decision: Decision, state: ReplayState) -> Drift | None:
    """The first way today's code departs from the recording, or None."""
    if state.violation is not None:  # as ``conclude``: the cause of what followed
        return _drift(recording, None, "deterministic workflow code", str(state.violation))
    if state.drift is not None:
        drift = state.drift
        return _drift(recording, drift.seq, drift.expected, drift.actual)
    ending = ENDINGS.get(recording.state)
    return None if ending is None else _ended(recording, decision, ending)


def _ended(recording: Recording, decision: Decision, ending: type[Any]) -> Drift | None:
    new = [c for c in decision.commands if c.type not in MARKER_TYPES]
    expected = f"the end of the run ({recording.state})"
    if new:
        last = recording.events[-1].seq if recording.events else 0
        return _drift(recording, last + 1, expected, f"{new[0].type} {new[0].command_id}")
    if not isinstance(decision.outcome, ending):
        return _drift(recording, None, f"run {recording.state}", describe(decision.outcome))
    return None


def describe(outcome: Outcome) -> str:
    """How a replay ended, in the words of a run's state."""
    if isinstance(outcome, Failed):
        return f"run failed ({outcome.error})"
    if isinstance(outcome, Completed):
        return "run completed"
    if isinstance(outcome, CancelledOutcome):
        return "run cancelled"
    if isinstance(outcome, Continued):
        return "run continued as new"
    if isinstance(outcome, Suspended):
        return f"the run waiting on {', '.join(outcome.waiting_on)}"
    return f"the run {type(outcome).__name__.lower()}"


def missing_code(recording: Recording, why: str) -> Drift:
    """A run in flight whose code is gone: a deploy would hold it ``blocked``."""
    version = recording.version or "newest"
    return _drift(recording, None, f"code for {recording.workflow} v{version}", why)


def _drift(recording: Recording, seq: int | None, expected: str, actual: str) -> Drift:
    return Drift(recording.run_id, recording.workflow, seq, expected, actual)
