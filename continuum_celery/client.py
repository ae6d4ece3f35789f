"""The caller's side of a run: a Celery-like handle plus the public Run record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .engine.events import Event
from .errors import ContinuumError, RunCancelled, RunFailed, RunTerminated
from .journal.endings import RunEnds
from .journal.records import RunRecord

if TYPE_CHECKING:
    from .core import Continuum

TERMINAL_STATES = frozenset({"completed", "failed", "cancelled", "terminated", "continued"})
"""States a run never leaves. ``blocked`` is not one: fitting code resumes it."""
POLL_INTERVAL = 2.0
"""Seconds between checks of a run whose end notification went missing."""


class ResultTimeout(ContinuumError, TimeoutError):
    """``RunHandle.result(timeout)`` ran out of time; the run itself goes on."""


@dataclass(frozen=True)
class Run:
    run_id: str
    workflow: str
    state: str
    result: Any
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    parent_run_id: str | None
    namespace: str
    attributes: dict[str, Any]
    args: list[Any]
    kwargs: dict[str, Any]
    version: int = 1
    continued_from: str | None = None
    next_run_id: str | None = None
    """Set when this run continued as new: the successor's id."""
    traceback: str | None = None
    """For a run that failed by raising: the workflow exception's traceback."""
    cancel_requested_at: datetime | None = None
    cancel_reason: str | None = None
    forked_from: str | None = None
    """For a fork: the run it was copied from; ``fork_seq`` is where the copy stopped."""
    fork_seq: int | None = None


class RunHandle:
    """Returned by ``.delay()`` / ``.apply_async()`` / ``cx.run()``, like AsyncResult."""

    def __init__(self, cx: Continuum, run_id: str) -> None:
        self._cx = cx
        self.run_id = run_id
        self.id = run_id  # AsyncResult spelling, for Celery habits

    @property
    def state(self) -> str:
        """The state of the chain's newest run (runs continue-as-new transparently)."""
        return self.get_run().state

    def get_run(self) -> Run:
        """The newest run of this handle's continue-as-new chain."""
        run = self._cx.get_run(self.run_id)
        while run.state == "continued" and run.next_run_id is not None:
            run = self._cx.get_run(run.next_run_id)
        return run

    def result(self, timeout: float | None = None, interval: float = POLL_INTERVAL) -> Any:
        """Wait for the run to end; its value, or RunFailed / RunCancelled / timeout.

        The wait is woken by the run's end (LISTEN/NOTIFY), so it costs a few
        statements however long the run takes; ``interval`` is the longest pause
        between checks should a notification be lost with its connection.
        """
        run = self.get_run()
        if run.state in TERMINAL_STATES:
            return _outcome(run)
        deadline = None if timeout is None else time.monotonic() + timeout
        with RunEnds(self._cx.db) as ends:
            while True:
                ends.listen()  # before the check, so an end right after it is heard
                run = self.get_run()
                if run.state in TERMINAL_STATES:
                    return _outcome(run)
                left = interval if deadline is None else min(deadline - time.monotonic(), interval)
                if left <= 0:
                    raise ResultTimeout(_still(self.run_id, run, timeout))
                ends.wait(run.run_id, left)

    get = result  # AsyncResult spelling

    def signal(self, name: str, payload: Any = None) -> None:
        self._cx.signal(self.run_id, name, payload)

    def cancel(self, reason: str | None = None) -> None:
        """Ask the run to cancel; its workflow may clean up (see ``Continuum.cancel``)."""
        self._cx.cancel(self.run_id, reason)

    def terminate(self, reason: str) -> None:
        """Stop the run now; no workflow code runs (see ``Continuum.terminate``)."""
        self._cx.terminate(self.run_id, reason)

    def history(self) -> list[Event]:
        return self._cx.history(self.run_id)

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id}>"


def _outcome(run: Run) -> Any:
    if run.state == "completed":
        return run.result
    if run.state == "cancelled":
        raise RunCancelled(run.run_id)
    if run.state == "terminated":
        raise RunTerminated(run.run_id, run.error or "terminated")
    raise RunFailed(run.run_id, run.error or f"run ended as {run.state}")


def _still(run_id: str, run: Run, timeout: float | None) -> str:
    """Why a wait ran out: a blocked run says why it is held."""
    if run.state == "blocked":
        return f"run {run_id} is blocked after {timeout}s (it waits for fitting code): {run.error}"
    return f"run {run_id} still {run.state} after {timeout}s"


def public_run(record: RunRecord) -> Run:
    """The public view of a run's record."""
    return Run(
        run_id=record.run_id,
        workflow=record.workflow,
        state=record.state,
        result=record.result,
        error=record.error,
        created_at=record.created_at,
        completed_at=record.completed_at,
        parent_run_id=record.parent_run_id,
        namespace=record.namespace,
        attributes=record.attributes,
        args=record.args,
        kwargs=record.kwargs,
        version=record.version,
        continued_from=record.continued_from,
        next_run_id=record.next_run_id,
        traceback=record.traceback,
        cancel_requested_at=record.cancel_requested_at,
        cancel_reason=record.cancel_reason,
        forked_from=record.forked_from,
        fork_seq=record.fork_seq,
    )
