"""The per-replay state that workflow effects read and write.

A replay re-runs the workflow function from the top. Every effect it asks for
(activity, timer, signal, side effect, ...) gets a command id and is checked
against the recorded decisions in order. Recorded effects return their journaled
results; the first effect past the end of the history becomes a new command.

A resident instance (``resident.py``) keeps one such state alive between wakes:
instead of unwinding at a wait it parks, and later absorbs the events that landed
meanwhile and carries on from where it stopped.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..errors import (
    Cancelled,
    NondeterminismError,
    NotInWorkflow,
    ReplayDriftError,
    SuspendSwallowed,
)
from ..payloads import DEFAULT_MAX_PAYLOAD_BYTES
from .attributes import starting
from .commands import Command
from .events import CANCEL_REQUESTED, DECISION_TYPES, MARKER_TYPES, Event

Parker = Callable[[str], None]
"""Parks a resident instance at a wait; returns once new events were absorbed."""


class Suspend(BaseException):
    """Unwinds the workflow stack when it must wait.

    A ``BaseException`` so that ``except Exception`` in workflow code lets it pass.
    """


class LiveSources(Protocol):
    """Non-deterministic inputs, consulted only at the live tail and then journaled."""

    def now(self) -> datetime: ...

    def uuid4(self) -> str: ...

    def random(self) -> float: ...


@dataclass(frozen=True)
class WorkflowInfo:
    run_id: str
    workflow: str
    namespace: str = "default"
    attributes: dict[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None
    version: int = 1
    depth: int = 0
    """How many parents this run has; child workflows are bounded by it."""


@dataclass(frozen=True)
class Compensable:
    """A compensation registered by an activity that succeeded (LIFO stack entry)."""

    target: str
    activity: str
    args: list[Any]
    kwargs: dict[str, Any]
    spec: dict[str, Any]


class ReplayState:
    """Cursor over the recorded decisions plus the index of their resolutions."""

    def __init__(
        self,
        history: Sequence[Event],
        info: WorkflowInfo,
        live: LiveSources,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        guarded: bool = True,
    ) -> None:
        self.info = info
        self.guarded = guarded
        """Whether the determinism guard watches this pass (``guard.py``)."""
        self.violation: NondeterminismError | None = None
        self.live = live
        self.max_payload_bytes = max_payload_bytes
        self.decisions = [e for e in history if e.type in DECISION_TYPES]
        self.attributes = starting(self.decisions, info.attributes)
        """The run's search attributes as the code has set them so far."""
        self.resolutions: dict[str, Event] = {}
        self.cancel: Event | None = None
        """The run's cancel request, once journaled."""
        self.cancel_delivered = False
        self._index(history)
        self.cursor = 0
        self.ordinals: dict[tuple[str, str], int] = {}
        self.commands: list[Command] = []
        self.patches: dict[str, bool] = {}
        self.compensations: list[Compensable] = []
        self.armed: set[str] = set()
        self.suspended_on: str | None = None
        self.needs = 1
        """How many of ``suspended_on``'s ids must resolve before the code can move."""
        self.drift: ReplayDriftError | None = None
        self.parker: Parker | None = None

    # --- identity -----------------------------------------------------------------

    def next_command_id(self, kind: str, target: str) -> str:
        """(effect kind, target, per-target ordinal): stable when code moves around."""
        self.guard()
        ordinal = self.ordinals.get((kind, target), 0)
        self.ordinals[(kind, target)] = ordinal + 1
        return f"{kind}:{target}:{ordinal}"

    def guard(self) -> None:
        if self.drift is not None:
            raise self.drift
        if self.violation is not None:
            raise self.violation
        if self.suspended_on is not None:
            if isinstance(sys.exc_info()[1], Suspend):
                # Still unwinding (a ``finally`` or ``__exit__`` asked for an effect):
                # keep unwinding rather than calling it a swallowed suspension.
                raise Suspend(self.suspended_on)
            raise SuspendSwallowed(
                f"workflow code caught the suspension while waiting on {self.suspended_on} "
                "and kept running; do not catch BaseException around workflow calls"
            )

    # --- matching -------------------------------------------------------------------

    @property
    def live_tail(self) -> bool:
        return self.cursor >= len(self.decisions)

    def peek(self) -> Event | None:
        return None if self.live_tail else self.decisions[self.cursor]

    def take_marker(self, event_type: str, command_id: str) -> Event | None:
        """Consume a matching marker among the markers next in line; markers never drift.

        Stale markers before the match (a log line since removed from the code)
        are skipped with it, but never a real decision.
        """
        position = self.cursor
        while position < len(self.decisions):
            event = self.decisions[position]
            if event.type not in MARKER_TYPES:
                return None
            if event.type == event_type and event.command_id == command_id:
                self.cursor = position + 1
                return event
            position += 1
        return None

    def decide(
        self,
        event_type: str,
        command_id: str,
        data: dict[str, Any] | Callable[[], dict[str, Any]],
    ) -> Event | None:
        """Match the next recorded decision, or record a new one at the live tail.

        Returns the recorded event when replaying, None when the command is new.
        ``data`` may be a function: it then runs (validation, encoding and all) only
        for a new command, which keeps replaying a long history cheap.
        """
        self.skip_markers()
        event = self.peek()
        if event is None:
            self.commands.append(
                Command(event_type, command_id, data() if callable(data) else data)
            )
            return None
        if event.type != event_type or event.command_id != command_id:
            if callable(data):  # a command the live pass refused (its data raised) left
                data()  # no event: refuse it again here, as that pass did, not drift
            raise self.drifted(event, f"{event_type} {command_id}")
        self.cursor += 1
        return event

    def record(self, event_type: str, command_id: str, data: dict[str, Any]) -> None:
        self.commands.append(Command(event_type, command_id, data))

    def skip_markers(self) -> None:
        while (event := self.peek()) is not None and event.type in MARKER_TYPES:
            self.cursor += 1

    def _index(self, events: Sequence[Event]) -> None:
        """Index resolutions by command id (first one wins) and note a cancel request."""
        for event in events:
            if event.type == CANCEL_REQUESTED:
                self.cancel = self.cancel or event
            elif event.type not in DECISION_TYPES and event.command_id is not None:
                self.resolutions.setdefault(event.command_id, event)

    def resolution(self, command_id: str) -> Event | None:
        """What resolved ``command_id``, as the code could see it at its current wait.

        Until a cancel request is delivered, what landed after it is hidden: the
        run was cancelled at the wait it was at, whatever resolved it a moment later.
        """
        event = self.resolutions.get(command_id)
        cancel = self.cancel
        if event is None or cancel is None or self.cancel_delivered:
            return event
        return None if event.seq > cancel.seq else event

    @property
    def cancel_pending(self) -> bool:
        return self.cancel is not None and not self.cancel_delivered

    def deliver_cancel(self) -> None:
        """Raise a pending cancel request, once (at a wait, or at continue-as-new)."""
        if self.cancel_pending:
            self.cancel_delivered = True
            raise Cancelled(_reason(self.cancel))

    def block(self, command_id: str, needs: int = 1) -> None:
        """Wait for ``command_id`` (a comma-joined list for a gather) to be resolved;
        ``needs`` of them must be before the code can move (a gather: all).

        A from-the-top replay raises :class:`Suspend`, unwinding the workflow. A
        resident instance parks instead and returns here once new events are in;
        the effect then looks again, exactly as a fresh replay would at this point.
        A pending cancel request is raised here instead, once: the wait the code is
        blocked at is where a cancel reaches it.
        """
        self.deliver_cancel()
        self.suspended_on, self.needs = command_id, needs
        if self.parker is None:
            raise Suspend(command_id)
        self.parker(command_id)
        self.suspended_on = None

    def absorb(self, events: Sequence[Event]) -> None:
        """Take in events journaled since the last decision, to resume a parked run.

        Their decision events are the commands this state made last time (the
        resident checked that). Commands are only made at the live tail, and the
        code has run past them already, so they are not kept as decisions to match:
        the cursor stays at the live tail, as a fresh replay's would be there.
        Resolutions are indexed as a fresh replay would index them, first one wins.
        """
        self._index(events)
        self.commands = []

    def unreplayed(self) -> Event | None:
        """The first recorded decision past the cursor that is not a marker.

        Leaves the cursor alone: a parked resident must still see stale markers
        where a fresh replay would.
        """
        for event in self.decisions[self.cursor :]:
            if event.type not in MARKER_TYPES:
                return event
        return None

    def check_fully_replayed(self, actual: str) -> None:
        """Recorded decisions the code no longer makes mean the code changed."""
        event = self.unreplayed()
        if event is not None:
            raise self.drifted(event, actual)

    def violated(self, error: NondeterminismError) -> None:
        """Remember the first nondeterministic call: the pass ends blocked with it,
        even if the code caught the error and went on."""
        if self.violation is None:
            self.violation = error

    def drifted(self, event: Event, actual: str) -> ReplayDriftError:
        """Remember the first drift, so code that catches it can neither carry on nor
        blur which effect diverged."""
        if self.drift is None:
            self.drift = ReplayDriftError(event.seq, event.describe(), actual)
        return self.drift


def _reason(cancel: Event | None) -> str | None:
    reason = cancel.data.get("reason") if cancel is not None else None
    return str(reason) if reason is not None else None


_current: contextvars.ContextVar[ReplayState | None] = contextvars.ContextVar(
    "continuum_replay_state", default=None
)


def current() -> ReplayState | None:
    return _current.get()


def require(what: str) -> ReplayState:
    state = _current.get()
    if state is None:
        raise NotInWorkflow(f"{what} can only be called inside workflow code")
    return state


def run_with(state: ReplayState, fn: Callable[[], Any]) -> Any:
    token = _current.set(state)
    try:
        return fn()
    finally:
        _current.reset(token)
