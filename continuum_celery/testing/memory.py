"""The in-memory journal's records: runs, their histories, open waits and signals.

Values go in as Postgres would keep them (``as_journaled``: a ``jsonb`` round
trip), so code that depends on key order or number types behaves as in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..client import Run
from ..engine.events import Event
from ..errors import RunFinished, RunNotFound
from ..payloads import as_journaled

ACTIVE = frozenset({"pending", "running", "blocked"})


@dataclass
class Wait:
    """An open ``timer_started`` or ``signal_awaited``; ``name`` is the signal's."""

    command_id: str
    name: str | None


@dataclass
class MemoryRun:
    run_id: str
    workflow: str
    version: int
    args: list[Any]
    kwargs: dict[str, Any]
    created_at: datetime
    parent_run_id: str | None = None
    parent_command_id: str | None = None
    depth: int = 0
    continued_from: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    state: str = "pending"
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    completed_at: datetime | None = None
    next_run_id: str | None = None
    cancel_reason: str | None = None
    cancel_requested_at: datetime | None = None
    history: list[Event] = field(default_factory=list)
    waits: dict[str, Wait] = field(default_factory=dict)
    buffered: list[tuple[str, Any]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def append(
        self, type_: str, command_id: str | None, data: dict[str, Any], at: datetime
    ) -> Event:
        event = Event(len(self.history) + 1, type_, command_id, as_journaled(data), at)
        self.history.append(event)
        return event

    def take_buffered(self, name: str) -> tuple[bool, Any]:
        for index, (buffered_name, payload) in enumerate(self.buffered):
            if buffered_name == name:
                del self.buffered[index]
                return True, payload
        return False, None

    def end(self, state: str, at: datetime, result: Any = None, error: str | None = None) -> None:
        """Whatever the run still waited on ends with it."""
        self.state, self.result, self.error, self.completed_at = state, result, error, at
        self.waits.clear()

    def public(self) -> Run:
        return Run(
            run_id=self.run_id, workflow=self.workflow, state=self.state, result=self.result,
            error=self.error, created_at=self.created_at, completed_at=self.completed_at,
            parent_run_id=self.parent_run_id, namespace="default", attributes=self.attributes,
            args=self.args, kwargs=self.kwargs, version=self.version,
            continued_from=self.continued_from, next_run_id=self.next_run_id,
            traceback=self.traceback, cancel_requested_at=self.cancel_requested_at,
            cancel_reason=self.cancel_reason,
        )  # fmt: skip


class Runs:
    """All runs of one environment, by id."""

    def __init__(self) -> None:
        self.by_id: dict[str, MemoryRun] = {}

    def add(self, run: MemoryRun) -> MemoryRun:
        self.by_id[run.run_id] = run
        return run

    def get(self, run_id: str) -> MemoryRun:
        run = self.by_id.get(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id} in this environment")
        return run

    def tip(self, run_id: str) -> MemoryRun:
        """The newest run of the continue-as-new chain through ``run_id``."""
        run = self.get(run_id)
        while run.state == "continued" and run.next_run_id is not None:
            run = self.get(run.next_run_id)
        return run

    def active(self, run_id: str) -> MemoryRun:
        run = self.tip(run_id)
        if not run.active:
            raise RunFinished(run.run_id, run.state)
        return run

    def live_descendants(self, run: MemoryRun) -> list[MemoryRun]:
        found: list[MemoryRun] = []
        generation = [run]
        while generation:
            children = [self.by_id[c] for r in generation for c in r.children]
            generation = [c for c in children if c.active]
            found += generation
        return found
