"""Inline attempts shown where Celery users look: task events (Flower) and signals.

An attempt run inline (claimed by the commit that settled the previous one, or by
a wakeup) has no message of its own, so Celery never hears of it. This reports it
the way a worker reports a task it received: ``task-received``, ``task-started``
and ``task-succeeded`` / ``task-failed`` events under the uuid a published attempt
would have had (``<task id>-<attempt>``), with the same name, ``argsrepr`` and
``root_id``; and the ``task_prerun`` / ``task_success`` / ``task_failure`` /
``task_postrun`` signals, so error trackers hooked on them see it too.

Events go out only when the worker sends task events (``-E`` or
``worker_send_task_events``), decided once per process; signals with no
receivers cost a dictionary lookup. Events are queued and published by a thread,
whatever has queued up as one message (a batch, which Flower and every Celery
event receiver read): a step never waits for the broker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery import Celery, signals
from celery.utils.saferepr import saferepr

from ..journal.records import ClaimedTask, LostAttempt
from ..journal.settling import AttemptError
from ..runtime.attempts import failure_of

log = logging.getLogger("continuum_celery.celery")

RETRY_EVENTS_AFTER = 5.0
"""Seconds without events after the broker refused one (they are only a view)."""
MAX_BATCH = 300
"""Events published as one message at most."""
LINGER = 0.05
"""Seconds the publishing thread waits for more events before it publishes: under
load, a few attempts share one message (Flower shows them that much later)."""


@dataclass
class WorkerFacts:
    """What the worker's main process knows and its forked pool processes inherit."""

    hostname: str | None = None
    task_events: bool = False


WORKER = WorkerFacts()


def attempt_uuid(claim: ClaimedTask) -> str:
    """The Celery task id of an attempt: what ``publish_activity`` gives its message."""
    return f"{claim.task_id}-{claim.attempt}"


def attempt_argsrepr(run_id: str, activity: str, attempt: int) -> str:
    return f"run={run_id} activity={activity} attempt={attempt}"


class InlineEvents:
    """Publishes inline attempts' task events from a thread of each process.

    The attempt only queues its events (microseconds); the thread publishes them
    through one dispatcher, everything queued meanwhile as one message, so events
    never hold up a step and cost one broker round trip per batch.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._pid = 0
        self._enabled = False
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()

    def enabled(self) -> bool:
        if self._pid != os.getpid():  # decided once per (forked) process
            self._pid = os.getpid()
            self._enabled = WORKER.task_events or bool(self.app.conf.worker_send_task_events)
            if self._enabled:
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._publish, name="continuum-events",
                                 daemon=True).start()  # fmt: skip
        return self._enabled

    def send(self, type_: str, **fields: Any) -> None:
        fields["timestamp"] = time.time()  # when it happened, not when it was sent
        self._queue.put((type_, fields))

    def _publish(self) -> None:
        dispatcher, paused_until = None, 0.0
        while True:
            batch = self._take()
            if time.monotonic() < paused_until:
                continue
            try:
                dispatcher = dispatcher or self._dispatcher()
                for type_, fields in batch:
                    dispatcher.send(type_, **fields)
                dispatcher.flush(errors=False)
            except Exception as error:  # a view only: never fail an attempt over it
                log.warning("task events not sent for %.0fs: %s", RETRY_EVENTS_AFTER, error)
                paused_until, dispatcher = time.monotonic() + RETRY_EVENTS_AFTER, None

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        """Wait for an event, linger a moment, then take everything queued with it."""
        batch = [self._queue.get()]
        time.sleep(LINGER)
        with contextlib.suppress(queue.Empty):
            while len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
        return batch

    def _dispatcher(self) -> Any:
        connection = self.app.connection_for_write()
        return self.app.events.Dispatcher(
            connection, hostname=WORKER.hostname, enabled=True,
            buffer_group=("task",), buffer_limit=MAX_BATCH + 1,
        )  # fmt: skip


class InlineAttempts:
    """The runtime's ``AttemptObserver`` for Celery."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.events = InlineEvents(app)
        self._started: dict[str, float] = {}

    def started(self, claim: ClaimedTask) -> None:
        uuid, task = attempt_uuid(claim), self.app.tasks.get(claim.activity)
        args = [claim.task_id, claim.attempt]
        if task is not None:
            task.push_request(id=uuid, args=args, kwargs={}, root_id=claim.run_id,
                              parent_id=None, retries=claim.attempt - 1)  # fmt: skip
            signals.task_prerun.send(sender=task, task_id=uuid, task=task, args=args, kwargs={})
        if self.events.enabled():
            self._started[uuid] = time.monotonic()
            self._announce(uuid, claim)

    def _announce(self, uuid: str, claim: ClaimedTask) -> None:
        argsrepr = attempt_argsrepr(claim.run_id, claim.activity, claim.attempt)
        self.events.send("task-received", uuid=uuid, name=claim.activity, args=argsrepr,
                         kwargs="{}", root_id=claim.run_id, parent_id=None,
                         retries=claim.attempt - 1, eta=None, expires=None)  # fmt: skip
        self.events.send("task-started", uuid=uuid)

    def finished(self, claim: ClaimedTask, error: AttemptError | None) -> None:
        uuid, task = attempt_uuid(claim), self.app.tasks.get(claim.activity)
        args = [claim.task_id, claim.attempt]
        try:
            if error is None:
                self._succeeded(uuid, task)
            else:
                self._failed(uuid, task, args, failure_of(error))
            if task is not None:
                state = "SUCCESS" if error is None else "FAILURE"
                signals.task_postrun.send(sender=task, task_id=uuid, task=task, args=args,
                                          kwargs={}, retval=None, state=state)  # fmt: skip
        finally:
            if task is not None:
                task.pop_request()

    def _succeeded(self, uuid: str, task: Any) -> None:
        if task is not None:
            signals.task_success.send(sender=task, result=None)
        if self.events.enabled():
            self.events.send("task-succeeded", uuid=uuid, result="None", runtime=self._ran(uuid))

    def _failed(self, uuid: str, task: Any, args: list[Any], exc: BaseException) -> None:
        einfo = ExceptionInfo((type(exc), exc, _traceback_of(exc)))
        if task is not None:
            signals.task_failure.send(sender=task, task_id=uuid, exception=exc, args=args,
                                      kwargs={}, traceback=exc.__traceback__,
                                      einfo=einfo)  # fmt: skip
        if self.events.enabled():
            self.events.send("task-failed", uuid=uuid, exception=saferepr(exc),
                             traceback=einfo.traceback, runtime=self._ran(uuid))  # fmt: skip

    def lost(self, attempt: LostAttempt) -> None:
        """Upkeep failed an attempt whose worker died or hung: the task that was left
        STARTED (published or inline) ends as FAILURE, and ``task_failure`` fires."""
        uuid, task = f"{attempt.task_id}-{attempt.attempt}", self.app.tasks.get(attempt.activity)
        exc = _stand_in(attempt.error_type, f"{attempt.error_type}: {attempt.message}")
        self._failed(uuid, task, [attempt.task_id, attempt.attempt], exc)

    def _ran(self, uuid: str) -> float:
        started = self._started.pop(uuid, None)
        return 0.0 if started is None else time.monotonic() - started


def _stand_in(error_type: str, text: str) -> BaseException:
    """An exception for a failure that raised nothing here (the body ran elsewhere)."""
    if error_type == "TimeoutError":
        return TimeoutError(text)
    lost: BaseException = WorkerLostError(text)
    return lost


def _traceback_of(exc: BaseException) -> TracebackType:
    """A made-up exception (a timeout) has no traceback until it is raised once."""
    if exc.__traceback__ is None:
        try:
            raise exc
        except BaseException as raised:
            return raised.__traceback__  # type: ignore[return-value]
    return exc.__traceback__
