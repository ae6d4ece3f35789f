"""An in-memory journal for driving the pure replay engine in unit tests.

:class:`Driver` plays the part of the Postgres journal and the workers: it keeps a
run's history, replays the workflow, journals each new command as an event (seq
1, 2, 3, ... without gaps), runs scheduled activities by calling their plain
functions, fires timers and delivers signals. Event data goes through a JSON round
trip on the way in, as it would through a ``jsonb`` column.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from continuum_celery.definitions import Activity, ActivityOptions
from continuum_celery.engine.commands import Command, Completed, Decision, Failed, Outcome
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.errors import NonRetryableError

START = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


class FakeLive:
    """Deterministic time and entropy that counts how often it is consulted."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.calls: Counter[str] = Counter()

    def now(self) -> datetime:
        self.calls["now"] += 1
        return self.start + timedelta(seconds=self.calls["now"], microseconds=250)

    def uuid4(self) -> str:
        self.calls["uuid4"] += 1
        return f"00000000-0000-4000-8000-{self.calls['uuid4']:012d}"

    def random(self) -> float:
        self.calls["random"] += 1
        return (self.calls["random"] * 0.137) % 1.0


def activity(
    fn: Callable[..., Any],
    name: str,
    *,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
    queue: str | None = None,
    priority: int | None = None,
) -> Activity:
    """Declare an activity the way the app decorator would."""
    options = ActivityOptions(retry or RetryPolicy(), timeout, queue, priority)
    return Activity(fn, name, options)


def json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


class StuckError(AssertionError):
    """The driver kept replaying without the run settling."""


class Driver:
    """Replays ``fn`` against an in-memory history until it completes, fails or waits.

    ``hold(command)`` returning True keeps a scheduled activity pending until the
    test calls :meth:`run_activity`, :meth:`complete` or :meth:`fail`.
    ``inject(command, attempt)`` may return an exception to fail an attempt without
    calling the activity. With ``auto_fire`` the driver fires ``workflow.sleep``
    timers whenever the run is waiting on nothing else it can resolve.
    A ``history`` passed in is taken as is: its open waits and activities are not
    tracked, so resolve them with :meth:`complete`, :meth:`fail` or :meth:`append`.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        activities: Iterable[Activity] = (),
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        live: FakeLive | None = None,
        info: WorkflowInfo | None = None,
        history: Iterable[Event] = (),
        hold: Callable[[Command], bool] | None = None,
        inject: Callable[[Command, int], BaseException | None] | None = None,
        auto_fire: bool = False,
    ) -> None:
        self.fn = fn
        self.registry = {a.name: a for a in activities}
        self.args = list(args)
        self.kwargs = dict(kwargs or {})
        self.live = live or FakeLive()
        self.info = info or WorkflowInfo("run-1", "tests.workflow")
        self.history: list[Event] = list(history)
        self.hold = hold or (lambda command: False)
        self.inject = inject or (lambda command, attempt: None)
        self.auto_fire = auto_fire
        self.decisions: list[Decision] = []
        self.held: dict[str, Command] = {}
        self.waits: dict[str, Command] = {}  # timer_started / signal_awaited, unresolved
        self.buffered: dict[str, list[Any]] = {}
        self.executions: Counter[str] = Counter()  # activity attempts by name
        self.outcome: Outcome | None = None

    # --- the journal ------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self.history[-1].seq if self.history else 0

    def append(self, type_: str, command_id: str | None, data: dict[str, Any]) -> Event:
        event = Event(self.last_seq + 1, type_, command_id, json_copy(data))
        self.history.append(event)
        return event

    def types(self) -> list[str]:
        return [e.type for e in self.history]

    def events(self, type_: str) -> list[Event]:
        return [e for e in self.history if e.type == type_]

    # --- replays ------------------------------------------------------------------------

    def replay(self) -> Decision:
        """One pure replay of the current history; journals nothing."""
        decision = replay(self.fn, self.args, self.kwargs, self.history, self.info, self.live)
        self.decisions.append(decision)
        self.outcome = decision.outcome
        return decision

    def step(self) -> Decision:
        """Replay once and journal what it decided, resolving what can be resolved now."""
        decision = self.replay()
        for command in decision.commands:
            self.append(command.type, command.command_id, command.data)
            if command.type == "activity_scheduled":
                if self.hold(command):
                    self.held[command.command_id] = command
                else:
                    self._execute(command)
            elif command.type in ("timer_started", "signal_awaited"):
                self.waits[command.command_id] = command
                if command.type == "signal_awaited":
                    self._deliver_buffered(command)
        return decision

    def run(self, max_steps: int = 500) -> Outcome:
        """Step until the run completes or fails, or waits on something only a test can give."""
        for _ in range(max_steps):
            before = self.last_seq
            decision = self.step()
            if isinstance(decision.outcome, Completed | Failed):
                return decision.outcome
            if self.last_seq != before:
                continue
            if self.auto_fire and self._fire_sleeps():
                continue
            return decision.outcome
        raise StuckError(f"run did not settle in {max_steps} replays; history: {self.types()}")

    # --- activities ---------------------------------------------------------------------

    def _execute(self, command: Command) -> Event:
        data = command.data
        activity = self.registry[data["activity"]]
        max_attempts = data["retry"]["max_attempts"] or 10  # unlimited: enough for tests
        attempt = 0
        while True:
            attempt += 1
            self.executions[activity.name] += 1
            error = self.inject(command, attempt)
            try:
                if error is not None:
                    raise error
                result = activity.fn(*data["args"], **data["kwargs"])
            except Exception as exc:
                if attempt < max_attempts and not isinstance(exc, NonRetryableError):
                    continue
                return self.fail(command.command_id, type(exc).__name__, str(exc), attempt)
            return self.complete(command.command_id, result, attempt)

    def run_activity(self, command_id: str) -> Event:
        """Run a held activity now."""
        return self._execute(self.held.pop(command_id))

    def complete(self, command_id: str, result: Any = None, attempt: int = 1) -> Event:
        self.held.pop(command_id, None)
        data = {"activity": _activity_name(command_id), "attempt": attempt, "result": result}
        return self.append("activity_completed", command_id, data)

    def fail(self, command_id: str, error_type: str, message: str, attempt: int = 1) -> Event:
        self.held.pop(command_id, None)
        data = {
            "activity": _activity_name(command_id),
            "attempt": attempt,
            "error_type": error_type,
            "message": message,
        }
        return self.append("activity_failed", command_id, data)

    # --- timers and signals -------------------------------------------------------------

    def fire(self, command_id: str) -> Event:
        """Fire a sleep timer or a signal wait's timeout."""
        command = self.waits.pop(command_id)
        if command.type == "signal_awaited" and command.data.get("timer_id") is None:
            raise AssertionError(f"{command_id} has no timeout to fire")
        return self.append("timer_fired", command_id, {"timer_id": command_id})

    def _fire_sleeps(self) -> bool:
        sleeps = [c for c in self.waits.values() if c.type == "timer_started"]
        for command in sleeps:
            self.fire(command.command_id)
        return bool(sleeps)

    def signal(self, name: str, payload: Any = None) -> Event | None:
        """Resolve the oldest open wait for ``name``, or buffer the signal."""
        for command in self.waits.values():
            if command.type == "signal_awaited" and command.data["name"] == name:
                return self._receive(command, payload)
        self.buffered.setdefault(name, []).append(payload)
        return None

    def _deliver_buffered(self, command: Command) -> None:
        queue = self.buffered.get(command.data["name"])
        if queue:
            self._receive(command, queue.pop(0))

    def _receive(self, command: Command, payload: Any) -> Event:
        del self.waits[command.command_id]
        data = {"name": command.data["name"], "payload": payload}
        return self.append("signal_received", command.command_id, data)

    def cancel(self, reason: str | None = None) -> Event:
        """Journal a cancel request, as the journal does: its open waits are closed."""
        self.waits.clear()
        return self.append("cancel_requested", None, {"reason": reason, "by": "tests"})


def _activity_name(command_id: str) -> str:
    """``activity:<name>:<ordinal>`` -> ``<name>`` (names may contain colons)."""
    return command_id.split(":", 1)[1].rsplit(":", 1)[0]
