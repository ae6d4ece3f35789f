"""Activities in-process: each attempt calls the body (or its mock) right here, and a
failure is retried by the activity's own policy after its backoff, in virtual time.

What is retried and what is final follows ``runtime/perform.py``:
``NonRetryableError`` and ``ActivityCancelled`` stop at once, as does a result
the journal could not store; anything else waits out ``next_delay``.

An attempt's ``timeout`` is real time, as on workers: on the main thread the
body runs under the workers' own deadline (``runtime/deadline.py``), which stops
it; elsewhere it runs on, and a result that came too late is refused, as a lapsed
claim's would be. Either way the attempt fails with ``TimeoutError`` and is
retried by the policy.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..activity import ActivityInfo, running
from ..definitions import Registry
from ..engine.retry import RetryPolicy, next_delay
from ..errors import ActivityCancelled, NonRetryableError, PayloadError, UnknownActivity
from ..payloads import DEFAULT_MAX_PAYLOAD_BYTES, encode
from ..runtime.deadline import AttemptTimeout, attempt_deadline
from .journal import MemoryJournal
from .memory import MemoryRun


@dataclass
class Task:
    run: MemoryRun
    kind: str
    command_id: str
    data: dict[str, Any]
    task_id: str
    attempt: int = 1

    @property
    def timeout(self) -> float:
        """Real seconds each attempt may take (the activity's ``timeout=``)."""
        return float(self.data["timeout"])


class ActivityRunner:
    """Runs scheduled activities in the order they became due."""

    def __init__(self, registry: Registry, journal: MemoryJournal) -> None:
        self.registry = registry
        self.journal = journal
        self.mocks: dict[str, Callable[..., Any]] = {}
        self.ready: list[Task] = []
        self.keyed: dict[tuple[str, str], Any] = {}
        """Results by (activity, idempotency key): the first committed one wins."""
        self.attempts: dict[str, int] = {}
        """Attempts run, by activity name, mocks included."""
        self._ids = itertools.count(1)

    def mock(self, name: str, fn: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"an activity name must be a non-empty string, not {name!r}")
        if not callable(fn):
            raise TypeError(f"mock for {name!r} must be callable, not {fn!r}")
        self.mocks[name] = fn

    def schedule(self, run: MemoryRun, kind: str, command_id: str, data: dict[str, Any]) -> None:
        self.ready.append(Task(run, kind, command_id, data, f"task-{next(self._ids)}"))

    def run_next(self) -> bool:
        """Run the oldest ready attempt; False when none is ready."""
        if not self.ready:
            return False
        task = self.ready.pop(0)
        if task.run.active:  # an ended run's pending tasks end with it
            self._settle(task, *self._call(task))
        return True

    def _body(self, name: str) -> tuple[Callable[..., Any], int]:
        if name in self.mocks:
            return self.mocks[name], DEFAULT_MAX_PAYLOAD_BYTES
        try:
            activity = self.registry.activity(name)
        except UnknownActivity as error:
            raise UnknownActivity(
                f"{error}; register it or mock it with env.mock_activity"
            ) from None
        return activity.fn, activity.max_payload_bytes

    def _call(self, task: Task) -> tuple[bool, Any]:
        """(ok, result) or (False, (error type, message, retryable)); an idempotency
        key that already has a result reuses it without running the body."""
        name, key = task.data["activity"], task.data.get("idempotency_key")
        if key is not None and (name, key) in self.keyed:
            return True, self.keyed[name, key]
        fn, limit = self._body(name)
        self.attempts[name] = self.attempts.get(name, 0) + 1
        try:
            result = self._timed(task, fn)
            encode(result, f"result of {name}", limit)
        except AttemptTimeout:
            message = f"attempt {task.attempt} did not finish within its {task.timeout:g}s timeout"
            return False, ("TimeoutError", message, True)
        except (NonRetryableError, ActivityCancelled, PayloadError) as error:
            return False, (type(error).__name__, str(error), False)
        except Exception as error:
            return False, (type(error).__name__, str(error), True)
        return True, result

    def _timed(self, task: Task, fn: Callable[..., Any]) -> Any:
        """The body under its attempt's deadline; ``AttemptTimeout`` when it ran over."""
        info = ActivityInfo(task.run.run_id, task.task_id, task.data["activity"], task.attempt)
        began = time.monotonic()
        with running(info, lambda details: None), attempt_deadline(task.timeout):
            result = fn(*task.data["args"], **task.data["kwargs"])
        if time.monotonic() - began > task.timeout:
            raise AttemptTimeout()
        return result

    def _settle(self, task: Task, ok: bool, outcome: Any) -> None:
        name = task.data["activity"]
        if ok:
            key = task.data.get("idempotency_key")
            if key is not None:
                self.keyed.setdefault((name, key), outcome)
            data = {"activity": name, "attempt": task.attempt, "result": outcome}
            self.journal.append(task.run, f"{task.kind}_completed", task.command_id, data)
            return
        error_type, message, retryable = outcome
        policy = RetryPolicy.from_dict(task.data["retry"])
        delay = next_delay(policy, task.attempt, self.journal.clock.random()) if retryable else None
        if delay is not None:
            task.attempt += 1
            at = self.journal.clock.now() + timedelta(seconds=delay)
            self.journal.timeline.add(at, lambda: self.ready.append(task))
            return
        data = {"activity": name, "attempt": task.attempt, "error_type": error_type,
                "message": message}  # fmt: skip
        self.journal.append(task.run, f"{task.kind}_failed", task.command_id, data)
