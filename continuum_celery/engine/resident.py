"""Resident instances: a run's workflow function kept running between wakes.

A from-the-top replay costs time in proportion to the history, on every wake. A
resident instance runs the workflow function in a greenlet instead: at a wait it
parks (switches back to its caller) rather than unwinding, and the next wake
hands it the events journaled since, then switches back in. Only the new part of
the workflow runs, so a step costs the same at step 10 and at step 10,000.

An instance trusts nothing it has not been shown. Its caller commits the decision
in a transaction that may roll back, and another worker may advance the run, so
every use first checks that the history is exactly what the instance has seen,
plus the events its last commands became, plus new resolutions (:meth:`fits`).
Anything else and the instance is thrown away and the run replayed from the top.

Known difference from :func:`~.replay.replay`: workflow code that misbehaves while
a suspension unwinds it (catches ``BaseException`` around a workflow call, or a
``finally`` / ``__exit__`` that raises or returns) is reported as
``SuspendSwallowed`` only by a from-the-top replay, such as
``continuum_celery.testing.assert_replays``. A resident instance does not unwind
at a wait, so there is nothing to swallow.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import functools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import greenlet  # type: ignore[import-untyped, unused-ignore]

from . import guard
from .commands import Command, Decision, Outcome
from .context import LiveSources, ReplayState, Suspend, WorkflowInfo
from .events import DECISION_TYPES, Event
from .replay import conclude, run_workflow, suspended

_PARKED = object()
"""What a parking instance switches back with (a finished one returns its outcome)."""


@dataclass(frozen=True)
class Call:
    """Everything a run's workflow function is invoked with, besides its history."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    kwargs: dict[str, Any]
    info: WorkflowInfo
    live: LiveSources
    max_payload_bytes: int
    guarded: bool = True


def thread_root() -> Any:
    """The root greenlet of the running thread: a greenlet only switches within it.

    Compared instead of ``threading.get_ident()``, which gevent patches to name
    the current greenlet rather than the thread.
    """
    current = greenlet.getcurrent()
    while current.parent is not None:
        current = current.parent
    return current


class Resident:
    """One run's workflow function, parked at its current wait; see the module doc."""

    def __init__(self, call: Call, history: Sequence[Event]) -> None:
        # The function runs on copies: the caller's inputs stay as they were, to be
        # compared with the next call's, and a replay of them sees them unchanged.
        self.inputs = copy.deepcopy((list(call.args), call.kwargs, call.info))
        args, kwargs, info = copy.deepcopy(self.inputs)
        call = self.call = dataclasses.replace(call, args=args, kwargs=kwargs, info=info)
        self.state = ReplayState(
            history, call.info, call.live, call.max_payload_bytes, call.guarded
        )
        self.parking = self.state.parker = _Parking()
        self.glet = greenlet.greenlet(functools.partial(_main, self.state, call))
        self.glet.gr_context = contextvars.copy_context()
        self.home = thread_root()
        self.thread = threading.current_thread()
        self.seen = 0
        self.last: tuple[int, str, str | None] | None = None
        self._saw(history)
        self.made: list[Command] = []

    @classmethod
    def start(cls, call: Call, history: Sequence[Event]) -> tuple[Resident, Decision]:
        """Run the workflow from the top to its first wait: replay()'s decision."""
        resident = cls(call, history)
        return resident, resident._enter()

    # --- driving ------------------------------------------------------------------------

    def fits(self, call: Call, history: Sequence[Event]) -> Sequence[Event] | None:
        """The events new to this instance, or None unless ``history`` continues it.

        ``history`` must hold the events seen so far (checked by count and the last
        one), then the decisions made last time, in order, with resolutions anywhere
        among or after them, and nothing else.
        """
        if not self.parked or not self._same_call(call) or len(history) < self.seen:
            return None
        if self.seen and _key(history[self.seen - 1]) != self.last:
            return None
        new = history[self.seen :]
        journaled = [e for e in new if e.type in DECISION_TYPES]
        if len(journaled) != len(self.made) or not all(map(became, self.made, journaled)):
            return None
        return new

    def resume(self, new: Sequence[Event]) -> Decision:
        """Hand over the events :meth:`fits` returned and run to the next wait."""
        self.state.absorb(new)
        self._saw(new)
        return self._enter()

    @property
    def parked(self) -> bool:
        """Alive at a wait, neither finished nor closed: :meth:`resume` may go on."""
        return bool(self.glet) and not self.parking.closing

    def at_home(self) -> bool:
        return thread_root() is self.home

    def home_gone(self) -> bool:
        """Its thread has exited, so nothing can ever run it again: let it go.

        Both checks, as greenlet marks a dead thread's greenlets dead only lazily.
        """
        return bool(self.home.dead) or not self.thread.is_alive()

    def close(self) -> bool:
        """Unwind a parked instance as a replay's suspension would; False off its thread.

        Throws :class:`Suspend` in at the wait, so ``finally`` blocks and context
        managers in workflow code run, seeing a suspension. Idempotent.
        """
        if not self.at_home():
            return False
        was_parked, self.parking.closing = self.parked, True
        if was_parked:
            _unwind(self.glet, Suspend(self.state.suspended_on or ""))
        return True

    def _enter(self) -> Decision:
        """Switch in and turn where the function stopped into a decision."""
        try:
            self.glet.parent = greenlet.getcurrent()
            result = self.glet.switch()
        except BaseException:
            self.close()
            raise
        if result is not _PARKED:  # the function finished: the instance ends with it
            if isinstance(result, BaseException):  # a GreenletExit the code raised itself
                raise result
            return conclude(self.state, cast(Outcome, result))
        if self.state.unreplayed() is not None or self.state.violation is not None:
            self.close()  # drift or a violation: unwind first, then report it
        decision = conclude(self.state, suspended(self.state))
        self.made = list(decision.commands)
        return decision

    def _same_call(self, call: Call) -> bool:
        """The same code, sources and inputs; a redeployed function is another object."""
        mine = self.call
        if call.fn is not mine.fn or call.live is not mine.live or call.guarded != mine.guarded:
            return False
        inputs = (list(call.args), call.kwargs, call.info)
        return call.max_payload_bytes == mine.max_payload_bytes and self.inputs == inputs

    def _saw(self, events: Sequence[Event]) -> None:
        self.seen += len(events)
        if events:
            self.last = _key(events[-1])


class _Parking:
    """The state's parker, shared by an instance and its greenlet.

    Nothing the greenlet runs refers back to the instance, so there is no cycle: an
    instance dropped without :meth:`Resident.close` frees its greenlet at once, and
    greenlet kills it, which unwinds it like a suspension all the same.
    """

    def __init__(self) -> None:
        self.closing = False

    def __call__(self, command_id: str) -> None:
        """Runs in the greenlet; returns when switched back in with news."""
        if self.closing:  # unwinding already: never park again
            raise Suspend(command_id)
        guarded = guard.pause()  # the caller's thread is not workflow code
        try:
            greenlet.getcurrent().parent.switch(_PARKED)
        except greenlet.GreenletExit:
            raise Suspend(command_id) from None
        finally:
            guard.resume(guarded)


def _main(state: ReplayState, call: Call) -> Outcome:
    """The greenlet's body: one pass over the workflow, parking at each wait."""
    return run_workflow(state, lambda: call.fn(*call.args, **call.kwargs))


def became(command: Command, event: Event) -> bool:
    """Whether ``event`` is what ``command`` was journaled as, not someone else's.

    The journal may add fields (task id, fire time), never change one: a replay
    reads some of them back (an activity's compensation, a side effect's value)
    where the instance kept its own. A side effect's value must also keep its
    exact JSON form, key order included, as the code may iterate it; a ``jsonb``
    column reorders keys, and the next step then replays from the top once.
    """
    if event.type != command.type or event.command_id != command.command_id:
        return False
    data = event.data
    if any(key not in data or data[key] != value for key, value in command.data.items()):
        return False
    return command.type != "side_effect" or _exact(command.data.get("value"), data.get("value"))


def _exact(left: Any, right: Any) -> bool:
    try:
        return json.dumps(left) == json.dumps(right)
    except (TypeError, ValueError):  # not JSON: it cannot have come from the journal
        return False


def _key(event: Event) -> tuple[int, str, str | None]:
    return event.seq, event.type, event.command_id


def _unwind(glet: Any, suspension: Suspend) -> None:
    """Throw the suspension in; what the workflow raises while unwinding is its own."""
    glet.parent = greenlet.getcurrent()
    try:
        glet.throw(suspension)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # the instance is being discarded: nobody awaits its outcome
        return
