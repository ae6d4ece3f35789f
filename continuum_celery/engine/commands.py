"""What one replay decided: new decision events, and how the run stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Command:
    """A new decision event to journal; the journal adds side rows by ``type``.

    ``activity_scheduled`` gets a task row, ``timer_started`` and ``signal_awaited``
    get a wait row; the other types are the event alone.
    """

    type: str
    command_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Completed:
    result: Any


@dataclass(frozen=True)
class Failed:
    """The workflow raised or misbehaved; ``error`` is 'Type: message'.

    ``traceback`` is the exception's traceback text, kept on the run for whoever
    investigates; it does not take part in comparisons (replays of the same run
    raise from the same place, but the text names file paths and line numbers).
    """

    error: str
    traceback: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Blocked:
    """The run cannot go on with this code: its replay drifted from the journal, or
    its workflow is missing here. Not an end: it waits for fitting code."""

    error: str


@dataclass(frozen=True)
class CancelledOutcome:
    """``workflow.Cancelled`` escaped the workflow: the run ends cancelled."""

    reason: str | None


@dataclass(frozen=True)
class Suspended:
    """The code is blocked on these command ids until something resolves them.

    ``needs`` is how many of them must resolve before the code can move: all of
    them for a gather, else one. The journal uses it to let a gather's completions
    land without replaying the run for each; it is not part of what a replay
    decided, so it does not take part in comparisons.
    """

    waiting_on: tuple[str, ...]
    needs: int = field(default=1, compare=False)


@dataclass(frozen=True)
class Continued:
    """The run handed over to a fresh successor run (``continue_as_new``)."""

    next_run_id: str


Outcome = Completed | Failed | Suspended | Continued | Blocked | CancelledOutcome


@dataclass(frozen=True)
class Decision:
    commands: list[Command] = field(default_factory=list)
    outcome: Outcome = field(default_factory=lambda: Suspended(()))
