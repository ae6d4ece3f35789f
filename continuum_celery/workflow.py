"""The author's facade: functions to call from inside workflow code.

Workflow code must be deterministic: it is re-run from the top on every wake and
must ask for the same effects in the same order. Use these instead of
``time.sleep``, ``datetime.now``, ``uuid.uuid4`` or ``random.random``; they return
journaled values on replay.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import uuid as _uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from .engine import attributes, composition, effects
from .engine.composition import ChildHandle, CompensationOutcome
from .engine.context import WorkflowInfo, require
from .engine.effects import ActivityHandle
from .engine.guard import engine_side
from .engine.retry import MAX_SECONDS
from .errors import (
    ActivityFailed,
    Cancelled,
    NondeterminismError,
    RunCancelled,
    RunFailed,
    SignalTimeout,
)
from .payloads import check_text, normalize_args, private_copy, storable

if TYPE_CHECKING:
    from .definitions import Workflow

__all__ = [
    "ActivityFailed",
    "ActivityHandle",
    "Cancelled",
    "ChildHandle",
    "CompensationOutcome",
    "NondeterminismError",
    "RunCancelled",
    "RunFailed",
    "SignalTimeout",
    "WorkflowInfo",
    "compensate_all",
    "continue_as_new",
    "gather",
    "info",
    "logger",
    "now",
    "patched",
    "random",
    "run_child",
    "side_effect",
    "sleep",
    "start_child",
    "upsert_attributes",
    "uuid4",
    "wait_signal",
]


def _seconds(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, not {value!r}")
    if value > MAX_SECONDS:
        raise ValueError(f"{what} must be at most a century, not {value!r} seconds")
    return float(value)


@engine_side
def sleep(seconds: float) -> None:
    """Durable sleep: the timer lives in Postgres, so it survives restarts."""
    effects.sleep(require("workflow.sleep"), _seconds(seconds, "sleep") or 0.0)


@engine_side
def wait_signal(name: str, timeout: float | None = None) -> Any:
    """Wait for the next signal called ``name`` and return its payload.

    Signals sent earlier are buffered and consumed oldest first. With ``timeout``
    (seconds), raises :class:`SignalTimeout` if none arrives in time; whether the
    signal or the timeout won is decided once, under the run lock.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"signal name must be a non-empty str, not {name!r}")
    check_text(name, "signal name")
    return effects.wait_signal(require("workflow.wait_signal"), name, _seconds(timeout, "timeout"))


@engine_side
def gather(*handles: ActivityHandle) -> list[Any]:
    """Wait for several activities started with ``.start()``; results in order."""
    for handle in handles:
        if not isinstance(handle, ActivityHandle):
            raise TypeError(f"gather() takes activity handles, not {type(handle).__name__}")
    require("workflow.gather")
    return effects.wait_all(handles)


@engine_side
def now() -> datetime:
    """The current time (aware UTC), journaled the first time it is read."""
    return effects.now(require("workflow.now"))


@engine_side
def uuid4() -> _uuid.UUID:
    return effects.uuid4(require("workflow.uuid4"))


@engine_side
def random() -> float:
    return effects.random(require("workflow.random"))


@engine_side
def side_effect(fn: Callable[[], Any], name: str | None = None) -> Any:
    """Run ``fn`` once, journal its JSON result, and return that result on replay."""
    kind = name or getattr(fn, "__qualname__", None) or "side_effect"
    check_text(kind, "side effect name")
    return effects.side_effect(require("workflow.side_effect"), kind, fn)


@engine_side
def patched(patch_id: str) -> bool:
    """True for runs that reach this point running the patched code."""
    if not isinstance(patch_id, str) or not patch_id:
        raise TypeError(f"patch id must be a non-empty str, not {patch_id!r}")
    check_text(patch_id, "patch id")
    return effects.patched(require("workflow.patched"), patch_id)


@engine_side
def info() -> WorkflowInfo:
    """The run's identity, with its search attributes as upserted so far."""
    state = require("workflow.info")
    return dataclasses.replace(state.info, attributes=private_copy(state.attributes))


@engine_side
def upsert_attributes(changes: dict[str, Any]) -> None:
    """Merge search attributes into this run's, for ``list_runs`` to query.

    Top-level keys are replaced; a value of None removes the key. Journaled as a
    decision, so replay applies the same change at the same point of the code.
    """
    checked = attributes.check(changes)
    effects.upsert_attributes(require("workflow.upsert_attributes"), checked)


@engine_side
def start_child(child: Workflow | str, *args: Any, **kwargs: Any) -> ChildHandle:
    """Start a child workflow; ``.result()`` on the handle waits for it.

    The child's run id is derived from this run and the call, so replaying the
    parent never starts a second child.
    """
    state = require("workflow.start_child")
    name = check_text(child, "workflow name") if isinstance(child, str) else _workflow_name(child)
    limit = getattr(child, "max_payload_bytes", state.max_payload_bytes)
    arg_list, kw = normalize_args(args, kwargs, f"arguments of child {name}", limit)
    return composition.start_child(state, name, arg_list, kw)


@engine_side
def run_child(child: Workflow | str, *args: Any, **kwargs: Any) -> Any:
    """Start a child workflow and wait for its result."""
    return start_child(child, *args, **kwargs).result()


@engine_side
def continue_as_new(*args: Any, **kwargs: Any) -> NoReturn:
    """End this run and start it afresh with new arguments and an empty history.

    Signals not yet consumed, cancellation and ``result()`` follow the chain to its
    newest run. Code after this call never runs.
    """
    state = require("workflow.continue_as_new")
    limit = state.max_payload_bytes  # this run's Continuum's limit, as for its first start
    arg_list, kw = normalize_args(args, kwargs, "arguments of continue_as_new", limit)
    raise composition.continue_as_new(state, arg_list, kw)


@engine_side
def compensate_all(parallel: bool = False) -> list[CompensationOutcome]:
    """Run the registered compensations, newest first (or all at once with ``parallel``).

    A compensation that fails for good is reported in the returned outcomes and
    journaled as ``compensation_failed``; it does not stop the others.
    """
    return composition.compensate_all(require("workflow.compensate_all"), parallel)


def _workflow_name(child: Any) -> str:
    name = getattr(child, "name", None)
    if not isinstance(name, str) or not hasattr(child, "delay"):
        raise TypeError(f"start_child() takes a workflow or its name, not {child!r}")
    return name


class _ReplaySafeLogger:
    """A logger that speaks once per log call, however often the code is replayed."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    @engine_side
    def _log(self, level: int, message: str, *args: Any) -> None:
        state = require("workflow.logger")
        text = storable(message % args if args else str(message))
        if effects.log(state, logging.getLevelName(level), text):
            self._logger.log(level, "[%s] %s", state.info.run_id, text)

    def debug(self, message: str, *args: Any) -> None:
        self._log(logging.DEBUG, message, *args)

    def info(self, message: str, *args: Any) -> None:
        self._log(logging.INFO, message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self._log(logging.WARNING, message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._log(logging.ERROR, message, *args)


logger = _ReplaySafeLogger("continuum_celery.workflow")
