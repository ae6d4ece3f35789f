"""The in-memory journal: writes one replay's decisions as ``journal/decisions.py``
and ``journal/lifecycle.py`` write them to Postgres, with the same events.

Timers and signal timeouts go on the environment's timeline; scheduled activities
go to ``on_task``; runs with new input go on ``wake``, to be replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..engine.commands import (
    Blocked,
    CancelledOutcome,
    Command,
    Completed,
    Continued,
    Decision,
    Failed,
)
from ..engine.events import CANCEL_REQUESTED
from ..payloads import as_journaled
from .clock import Timeline, VirtualClock
from .memory import MemoryRun, Runs, Wait

_CHILD_EVENTS = {"completed": "child_completed", "failed": "child_failed",
                 "terminated": "child_failed", "cancelled": "child_cancelled"}  # fmt: skip

TaskSink = Callable[[MemoryRun, str, str, dict[str, Any]], None]
"""(run, kind, command id, scheduled data): an activity or compensation to run."""


class MemoryJournal:
    def __init__(self, clock: VirtualClock, on_task: TaskSink) -> None:
        self.runs = Runs()
        self.clock = clock
        self.timeline = Timeline()
        self.on_task = on_task
        self.wake: list[str] = []

    # --- input from outside -------------------------------------------------------------

    def append(
        self, run: MemoryRun, type_: str, command_id: str | None, data: dict[str, Any]
    ) -> None:
        """An event from the outside world (a result, a signal, a timer); wakes the run."""
        run.append(type_, command_id, data, self.clock.now())
        self.mark_wake(run)

    def mark_wake(self, run: MemoryRun) -> None:
        if run.run_id not in self.wake:
            self.wake.append(run.run_id)

    def signal(self, run_id: str, name: str, payload: Any) -> None:
        """The oldest open wait for ``name`` receives it, or it is kept for later."""
        run = self.runs.active(run_id)
        for wait in run.waits.values():
            if wait.name == name:
                del run.waits[wait.command_id]
                data = {"name": name, "payload": payload}
                return self.append(run, "signal_received", wait.command_id, data)
        run.buffered.append((name, payload))
        return None

    def cancel(self, run_id: str, reason: str | None, by: str = "tests") -> None:
        """Ask the run and its live descendants to cancel, closing their waits."""
        run = self.runs.active(run_id)
        self._request_cancel(run, reason, by)
        for child in self.runs.live_descendants(run):
            why = f"ancestor run {run.run_id} was cancelled" + (f": {reason}" if reason else "")
            self._request_cancel(child, why, by)

    def _request_cancel(self, run: MemoryRun, reason: str | None, by: str) -> None:
        if run.cancel_requested_at is not None:
            return
        run.cancel_requested_at, run.cancel_reason = self.clock.now(), reason
        run.waits.clear()
        self.append(run, CANCEL_REQUESTED, None, {"reason": reason, "by": by})

    def terminate(self, run_id: str, reason: str, by: str = "tests") -> None:
        """Stop the run and its live descendants, running no workflow code."""
        run = self.runs.active(run_id)
        descendants = self.runs.live_descendants(run)
        self._terminate(run, reason, by)
        self._notify_parent(run)
        for child in descendants:
            self._terminate(child, f"ancestor run {run.run_id} was terminated: {reason}", by)

    def _terminate(self, run: MemoryRun, reason: str, by: str) -> None:
        run.append("run_terminated", None, {"reason": reason, "by": by}, self.clock.now())
        run.end("terminated", self.clock.now(), error=f"terminated: {reason}")

    def fire(self, run: MemoryRun, command_id: str) -> None:
        """A timer or signal timeout is due, unless something resolved it first."""
        if run.active and run.waits.pop(command_id, None) is not None:
            self.append(run, "timer_fired", command_id, {"timer_id": command_id})

    # --- decisions ----------------------------------------------------------------------

    def apply(self, run: MemoryRun, decision: Decision) -> None:
        """Write a decision: its commands, then how the run stands."""
        outcome = decision.outcome
        if isinstance(outcome, Blocked):
            run.state, run.error = "blocked", outcome.error
            return
        run.state = "running"
        for command in decision.commands:
            self._write(run, command)
        if isinstance(outcome, Continued):
            self._continue(run, outcome.next_run_id)
        elif isinstance(outcome, Completed | Failed | CancelledOutcome):
            self._finish(run, outcome)

    def _write(self, run: MemoryRun, command: Command) -> None:
        now, data = self.clock.now(), dict(command.data)
        if command.type == "timer_started":
            data["fires_at"] = self.clock.after(data["seconds"]).isoformat()
        elif command.type == "signal_awaited" and data.get("timeout") is not None:
            data["fires_at"] = self.clock.after(data["timeout"]).isoformat()
        run.append(command.type, command.command_id, data, now)
        writer = getattr(self, f"_after_{command.type}", None)
        if writer is not None:
            writer(run, command)

    def _after_activity_scheduled(self, run: MemoryRun, command: Command) -> None:
        self.on_task(run, "activity", command.command_id, command.data)

    def _after_compensation_scheduled(self, run: MemoryRun, command: Command) -> None:
        self.on_task(run, "compensation", command.command_id, command.data)

    def _after_timer_started(self, run: MemoryRun, command: Command) -> None:
        self._wait(run, command.command_id, None, command.data["seconds"])

    def _after_signal_awaited(self, run: MemoryRun, command: Command) -> None:
        name = command.data["name"]
        self._wait(run, command.command_id, name, command.data.get("timeout"))
        found, payload = run.take_buffered(name)
        if found:
            del run.waits[command.command_id]
            data = {"name": name, "payload": payload}
            self.append(run, "signal_received", command.command_id, data)

    def _wait(
        self, run: MemoryRun, command_id: str, name: str | None, seconds: float | None
    ) -> None:
        run.waits[command_id] = Wait(command_id, name)
        if seconds is not None:
            at = self.clock.now() + timedelta(seconds=seconds)
            self.timeline.add(at, lambda: self.fire(run, command_id))

    def _after_attributes_upserted(self, run: MemoryRun, command: Command) -> None:
        attributes = run.attributes | command.data["set"]
        run.attributes = {k: v for k, v in attributes.items() if k not in command.data["unset"]}

    def _after_child_started(self, run: MemoryRun, command: Command) -> None:
        data = command.data
        child = self.spawn(data, run.attributes, continued_from=None)
        child.parent_run_id, child.parent_command_id = run.run_id, command.command_id
        child.depth = run.depth + 1
        run.children.append(child.run_id)

    def spawn(self, data: dict[str, Any], attributes: dict[str, Any],
              continued_from: str | None) -> MemoryRun:  # fmt: skip
        """A new run (a start, a child, a successor), queued for its first replay."""
        run = MemoryRun(data["child_run_id"], data["workflow"], int(data.get("version", 1)),
                        as_journaled(list(data["args"])), as_journaled(dict(data["kwargs"])),
                        self.clock.now(),
                        attributes=dict(attributes), continued_from=continued_from)  # fmt: skip
        self.runs.add(run)
        self.mark_wake(run)
        return run

    # --- endings ------------------------------------------------------------------------

    def _continue(self, run: MemoryRun, next_run_id: str) -> None:
        """The successor takes the run's place: its parent, its unconsumed signals, and
        a cancel request this replay did not see."""
        event = next(e for e in reversed(run.history) if e.type == "run_continued_as_new")
        data = {"workflow": run.workflow, "child_run_id": next_run_id,
                "version": event.data.get("version", run.version),
                "args": event.data["args"], "kwargs": event.data["kwargs"]}  # fmt: skip
        successor = self.spawn(data, run.attributes, continued_from=run.run_id)
        successor.parent_run_id, successor.parent_command_id = (
            run.parent_run_id,
            run.parent_command_id,
        )
        successor.depth, successor.buffered = run.depth, run.buffered
        run.buffered = []
        run.end("continued", self.clock.now(), {"continued_to": next_run_id})
        run.next_run_id = next_run_id
        if run.parent_run_id is not None:
            self.runs.get(run.parent_run_id).children.append(next_run_id)
        if run.cancel_requested_at is not None and not _saw_cancel(run):
            self._request_cancel(
                successor, run.cancel_reason, f"continue-as-new of run {run.run_id}"
            )

    def _finish(self, run: MemoryRun, outcome: Completed | Failed | CancelledOutcome) -> None:
        if isinstance(outcome, Completed):
            run.end("completed", self.clock.now(), as_journaled(outcome.result))
        elif isinstance(outcome, CancelledOutcome):
            why = f"cancelled: {outcome.reason}" if outcome.reason else "cancelled"
            run.end("cancelled", self.clock.now(), error=why)
        else:
            run.end("failed", self.clock.now(), error=outcome.error)
            run.traceback = outcome.traceback
        self._notify_parent(run)

    def _notify_parent(self, child: MemoryRun) -> None:
        if child.parent_run_id is None or child.parent_command_id is None:
            return
        parent = self.runs.get(child.parent_run_id)
        if not parent.active:
            return
        data: dict[str, Any] = {"child_run_id": child.run_id}
        if child.state == "completed":
            data["result"] = child.result
        elif child.state in ("failed", "terminated"):
            data["error"] = child.error
        self.append(parent, _CHILD_EVENTS[child.state], child.parent_command_id, data)


def _saw_cancel(run: MemoryRun) -> bool:
    """Whether the replay that continued had the cancel request in its history."""
    types = [e.type for e in run.history]
    return CANCEL_REQUESTED in types and types.index(CANCEL_REQUESTED) < types.index(
        "run_continued_as_new"
    )
