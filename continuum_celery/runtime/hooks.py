"""Where telemetry looks in: a few calls at the points that matter, no-ops by default.

The runtime calls these at a run's start, each replay pass, each activity
attempt (begin and end, with its outcome), signals, fired timers, fenced writes
and upkeep sweeps. ``Hooks`` itself does nothing, and costs a method call per
point; ``continuum_celery.telemetry`` subclasses it for OpenTelemetry and
Prometheus. A hook must never fail the work it watches, so the runtime calls the
ones that could through ``guarded``; begin/end pairs pass an opaque scope object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..journal.gauges import Backlog
from ..journal.records import ClaimedTask, LostAttempt, RunEnding

log = logging.getLogger("continuum_celery.telemetry")

Scope = Any
"""What a ``*_begin`` hook returns and its ``*_end`` gets back (a span, a timer)."""


class Hooks:
    """Telemetry off: every hook does nothing."""

    enabled = False
    wants_backlog = False
    """Whether upkeep should read ``Backlog`` for ``upkeep_swept`` (a query per sweep)."""

    def start_begin(self, workflow: str) -> tuple[Scope, dict[str, str] | None]:
        """A client starts a run; returns the scope and the trace context to store."""
        return None, None

    def start_end(self, scope: Scope, run_id: str | None, created: bool) -> None:
        """The start committed (``run_id``), found the run already there, or failed (None)."""

    def pass_begin(self, run_id: str, workflow: str, events: int) -> Scope:
        """A replay pass over the run's ``events`` begins (0: the run's first)."""

    def pass_end(self, scope: Scope, outcome: str) -> None:
        """It decided: ``waiting``, ``completed``, ``failed``, ``blocked``, ... or ``error``."""

    def attempt_begin(self, claim: ClaimedTask) -> Scope:
        """A claimed activity attempt begins (delivered or inline)."""

    def attempt_end(self, scope: Scope, claim: ClaimedTask, outcome: str) -> None:
        """``completed``, ``failed``, ``timed_out`` or ``ignored`` (fenced, duplicate)."""

    def attempt_lost(self, attempt: LostAttempt) -> None:
        """Upkeep ended an attempt whose worker died or hung (it never settled)."""

    def run_ended(self, ending: RunEnding) -> None:
        """A commit ended or blocked a run (after the commit)."""

    def signal_begin(self, run_id: str, name: str) -> Scope:
        """A client delivers (or buffers) a signal to the run, then wakes it."""

    def timer_begin(self, run_id: str, timer_id: str) -> Scope:
        """Upkeep fired a timer (or a signal's timeout) of the run, and wakes it."""

    def instant_end(self, scope: Scope) -> None:
        """The signal or timer's wakeup is published (or the delivery failed)."""

    def fenced(self, what: str) -> None:
        """A write was rejected by its fence: ``lease`` (a replay) or ``claim`` (an attempt)."""

    def upkeep_swept(self, seconds: float, backlog: Backlog | None) -> None:
        """The upkeep leader finished a full sweep in ``seconds``."""


NOOP = Hooks()


class Fanout(Hooks):
    """Several telemetry hooks as one (OpenTelemetry and Prometheus, say)."""

    def __init__(self, members: Sequence[Hooks]) -> None:
        self.members = tuple(members)
        self.enabled = any(m.enabled for m in self.members)
        self.wants_backlog = any(m.wants_backlog for m in self.members)

    def start_begin(self, workflow: str) -> tuple[Scope, dict[str, str] | None]:
        scopes, carrier = [], None
        for member in self.members:
            scope, found = member.start_begin(workflow)
            scopes.append(scope)
            carrier = carrier or found
        return scopes, carrier

    def start_end(self, scope: Scope, run_id: str | None, created: bool) -> None:
        for member, own in zip(self.members, scope, strict=True):
            member.start_end(own, run_id, created)

    def pass_begin(self, run_id: str, workflow: str, events: int) -> Scope:
        return [m.pass_begin(run_id, workflow, events) for m in self.members]

    def pass_end(self, scope: Scope, outcome: str) -> None:
        for member, own in zip(self.members, scope, strict=True):
            member.pass_end(own, outcome)

    def attempt_begin(self, claim: ClaimedTask) -> Scope:
        return [m.attempt_begin(claim) for m in self.members]

    def attempt_end(self, scope: Scope, claim: ClaimedTask, outcome: str) -> None:
        for member, own in zip(self.members, scope, strict=True):
            member.attempt_end(own, claim, outcome)

    def attempt_lost(self, attempt: LostAttempt) -> None:
        for member in self.members:
            member.attempt_lost(attempt)

    def run_ended(self, ending: RunEnding) -> None:
        for member in self.members:
            member.run_ended(ending)

    def signal_begin(self, run_id: str, name: str) -> Scope:
        return [m.signal_begin(run_id, name) for m in self.members]

    def timer_begin(self, run_id: str, timer_id: str) -> Scope:
        return [m.timer_begin(run_id, timer_id) for m in self.members]

    def instant_end(self, scope: Scope) -> None:
        for member, own in zip(self.members, scope, strict=True):
            member.instant_end(own)

    def fenced(self, what: str) -> None:
        for member in self.members:
            member.fenced(what)

    def upkeep_swept(self, seconds: float, backlog: Backlog | None) -> None:
        for member in self.members:
            member.upkeep_swept(seconds, backlog)


def guarded(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a hook; telemetry that fails is logged, never the work's failure."""
    try:
        return hook(*args)
    except Exception:
        log.warning("telemetry hook %s failed", getattr(hook, "__name__", hook), exc_info=True)
        return None
