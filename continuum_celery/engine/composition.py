"""Effects that compose runs: child workflows, continue-as-new and compensations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import ChildDepthExceeded, RunCancelled, RunFailed
from ..payloads import private_copy
from .context import Compensable, ReplayState
from .guard import engine_side

MAX_CHILD_DEPTH = 10
"""Children of children ... at most this deep; cancellation cascades as far."""

_IDS = uuid.UUID("5f0c3a52-8f3e-4d0c-9a57-6c1b1e0e2a11")


def derived_run_id(run_id: str, command_id: str) -> str:
    """The same (run, command) always names the same run, so replay never starts two."""
    return str(uuid.uuid5(_IDS, f"{run_id}/{command_id}"))


class ContinueAsNew(BaseException):
    """Ends the current run and hands over to its successor; code after it never runs."""


class ChildHandle:
    """A child workflow started by this run."""

    def __init__(self, state: ReplayState, command_id: str, run_id: str, workflow: str) -> None:
        self._state = state
        self.command_id = command_id
        self.run_id = run_id
        self.workflow = workflow

    @engine_side
    def result(self) -> Any:
        """The child's result; raises RunFailed or RunCancelled as the child ended."""
        self._state.guard()
        while (event := self._state.resolution(self.command_id)) is None:
            self._state.block(self.command_id)
        if event.type == "child_completed":
            return private_copy(event.data.get("result"))
        if event.type == "child_cancelled":
            raise RunCancelled(self.run_id)
        raise RunFailed(self.run_id, str(event.data.get("error")))

    def __repr__(self) -> str:
        return f"<ChildHandle {self.workflow} {self.run_id}>"


def start_child(
    state: ReplayState, workflow: str, args: list[Any], kwargs: dict[str, Any]
) -> ChildHandle:
    if state.info.depth + 1 > MAX_CHILD_DEPTH:
        raise ChildDepthExceeded(
            f"cannot start {workflow}: child workflows nest at most {MAX_CHILD_DEPTH} deep"
        )
    command_id = state.next_command_id("child", workflow)
    child_id = derived_run_id(state.info.run_id, command_id)
    data = {"workflow": workflow, "child_run_id": child_id, "args": args, "kwargs": kwargs}
    state.decide("child_started", command_id, data)
    return ChildHandle(state, command_id, child_id, workflow)


def continue_as_new(state: ReplayState, args: list[Any], kwargs: dict[str, Any]) -> ContinueAsNew:
    """Hand over to a successor, unless a cancel request is pending: a chain that
    only hops would otherwise never meet a wait where the cancel could reach it."""
    state.deliver_cancel()
    command_id = state.next_command_id("continue_as_new", state.info.workflow)
    next_id = derived_run_id(state.info.run_id, command_id)
    data = {"next_run_id": next_id, "args": args, "kwargs": kwargs}
    state.decide("run_continued_as_new", command_id, data)
    return ContinueAsNew(next_id)


@dataclass(frozen=True)
class CompensationOutcome:
    """How one compensation ended; failures are reported, never raised."""

    activity: str
    ok: bool
    result: Any = None
    error: str | None = None


def compensate_all(state: ReplayState, parallel: bool) -> list[CompensationOutcome]:
    """Run every registered compensation, newest first; failures do not stop the rest."""
    pending = list(reversed(state.compensations))
    state.compensations.clear()
    if parallel:
        command_ids = [_schedule(state, item) for item in pending]
        return [_outcome(state, item, cid) for item, cid in zip(pending, command_ids, strict=True)]
    return [_outcome(state, item, _schedule(state, item)) for item in pending]


def _schedule(state: ReplayState, item: Compensable) -> str:
    command_id = state.next_command_id("compensation", item.activity)
    data = {"activity": item.activity, "attempt": 1, "target": item.target,
            "args": item.args, "kwargs": item.kwargs, **item.spec}  # fmt: skip
    state.decide("compensation_scheduled", command_id, data)
    return command_id


def _outcome(state: ReplayState, item: Compensable, command_id: str) -> CompensationOutcome:
    state.guard()
    while (event := state.resolution(command_id)) is None:
        state.block(command_id)
    if event.type == "compensation_completed":
        return CompensationOutcome(item.activity, True, private_copy(event.data.get("result")))
    error = f"{event.data.get('error_type')}: {event.data.get('message')}"
    return CompensationOutcome(item.activity, False, error=error)
