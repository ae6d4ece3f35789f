"""replay(workflow, history) -> Decision. The heart of the engine, and pure.

The function is re-run from the top on every wake. It runs until it returns,
raises, or blocks on an effect that has no result yet; every new effect met on
the way becomes a command for the journal to write in one fenced transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from traceback import format_exception
from typing import Any

from ..errors import Cancelled, PayloadError, ReplayDriftError, SuspendSwallowed
from ..payloads import DEFAULT_MAX_PAYLOAD_BYTES, encode, private_copy, storable
from . import guard
from .commands import (
    Blocked,
    CancelledOutcome,
    Completed,
    Continued,
    Decision,
    Failed,
    Outcome,
    Suspended,
)
from .composition import ContinueAsNew
from .context import LiveSources, ReplayState, Suspend, WorkflowInfo, run_with
from .events import Event


def describe_error(error: BaseException) -> str:
    """'Type: message', as journaled; whatever the code raised, Postgres can store it."""
    return storable(f"{type(error).__name__}: {error}")


def replay(
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    history: Sequence[Event],
    info: WorkflowInfo,
    live: LiveSources,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    guarded: bool = True,
) -> Decision:
    state = ReplayState(history, info, live, max_payload_bytes, guarded)
    # Workflow code gets its own copy of the inputs: they stay as journaled.
    args, kwargs = private_copy(list(args)), private_copy(kwargs)
    return conclude(state, run_workflow(state, lambda: fn(*args, **kwargs)))


def conclude(state: ReplayState, outcome: Outcome) -> Decision:
    """The decision of one pass: its new commands and outcome, unless it drifted.

    Drift blocks the run rather than failing it: the history stays exactly as
    recorded, and a deploy of fitting code (or a ``patched()`` edit) resumes it. A
    nondeterministic call is a bug of the same kind, and is held the same way.
    """
    if state.violation is not None:  # the cause of any drift that followed it
        return Decision([], Blocked(describe_error(state.violation)))
    if state.drift is not None:
        return Decision([], Blocked(describe_error(state.drift)))
    return Decision(state.commands, outcome)


def run_workflow(state: ReplayState, body: Callable[[], Any]) -> Outcome:
    """Run ``body`` against ``state`` until it returns, raises or suspends."""
    try:
        result = guard.run_guarded(state.guarded, run_with, state, body)
    except Suspend:
        return suspended(state)
    except ContinueAsNew as handover:
        return Continued(str(handover.args[0]))
    except ReplayDriftError as drift:
        return Blocked(describe_error(drift))
    except Cancelled as cancelled:
        return _cancelled(state, cancelled)
    except Exception as error:  # the workflow's own failure becomes the run's
        return _failed(state, error)
    return _completed(state, result)


def _cancelled(state: ReplayState, cancelled: Cancelled) -> Outcome:
    """``Cancelled`` escaped: the run ends cancelled, unless history runs on (drift)."""
    try:
        state.check_fully_replayed("workflow cancelled")
    except ReplayDriftError as drift:
        return Blocked(describe_error(drift))
    return CancelledOutcome(cancelled.reason)


def suspended(state: ReplayState) -> Outcome:
    """The outcome of a pass that stopped at a wait (or drift, if history runs on)."""
    waiting = state.suspended_on or ""
    try:
        state.check_fully_replayed(f"workflow waiting on {waiting}")
    except ReplayDriftError as drift:
        return Blocked(describe_error(drift))
    return Suspended(tuple(waiting.split(",")), needs=state.needs)


def _failed(state: ReplayState, error: Exception) -> Outcome:
    if state.suspended_on is not None and not isinstance(error, SuspendSwallowed):
        error = SuspendSwallowed(f"suspension swallowed, then the workflow raised {error!r}")
    if not isinstance(error, SuspendSwallowed):
        try:
            state.check_fully_replayed(f"workflow raised {type(error).__name__}")
        except ReplayDriftError as drift:
            return Blocked(describe_error(drift))
    return Failed(describe_error(error), storable("".join(format_exception(error))))


def _completed(state: ReplayState, result: Any) -> Outcome:
    if state.suspended_on is not None:
        return Failed(
            describe_error(
                SuspendSwallowed(
                    f"workflow returned while waiting on {state.suspended_on}: "
                    "the suspension was caught by workflow code"
                )
            )
        )
    try:
        state.check_fully_replayed("workflow completed")
    except ReplayDriftError as drift:
        return Blocked(describe_error(drift))
    try:
        encode(result, "workflow result", state.max_payload_bytes)
    except PayloadError as error:
        return Failed(describe_error(error))
    return Completed(result)
