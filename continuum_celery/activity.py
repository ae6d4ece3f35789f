"""The facade for code running inside an activity body: ``heartbeat`` and ``info``.

An attempt's claim is renewed automatically while its worker process is alive.
``heartbeat(details)`` additionally records progress for operators, and is how a
long activity learns, cooperatively, that its run was cancelled or that its claim
was lost (its result would be rejected anyway, so it should stop).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import ActivityCancelled, ClaimLost, NotInWorkflow
from .payloads import encode

HEARTBEAT_LIMIT = 16 * 1024
"""Heartbeat details are progress notes, not data: capped well below payloads."""


@dataclass(frozen=True)
class ActivityInfo:
    run_id: str
    task_id: str
    activity: str
    attempt: int


@dataclass(frozen=True)
class _Attempt:
    info: ActivityInfo
    renew: Callable[[Any], str | None]


_current: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "continuum_attempt", default=None
)


@contextmanager
def running(info: ActivityInfo, renew: Callable[[Any], str | None]) -> Iterator[None]:
    """Used by the runtime around an activity body."""
    token = _current.set(_Attempt(info, renew))
    try:
        yield
    finally:
        _current.reset(token)


def _require(what: str) -> _Attempt:
    attempt = _current.get()
    if attempt is None:
        raise NotInWorkflow(f"{what} can only be called inside an activity body")
    return attempt


def info() -> ActivityInfo:
    return _require("activity.info").info


def heartbeat(details: Any = None) -> None:
    """Record progress and extend the claim; raises if the attempt should stop.

    Raises :class:`ActivityCancelled` when the run was cancelled, and
    :class:`ClaimLost` when this attempt's claim expired or moved on.
    """
    attempt = _require("activity.heartbeat")
    encode(details, f"heartbeat details of {attempt.info.activity}", HEARTBEAT_LIMIT)
    reason = attempt.renew(details)
    if reason == "cancelled":
        raise ActivityCancelled(f"run {attempt.info.run_id} was cancelled")
    if reason is not None:
        raise ClaimLost(f"{attempt.info.activity} attempt {attempt.info.attempt}: claim lost")
