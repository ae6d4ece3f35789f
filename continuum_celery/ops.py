"""Operator actions on runs: cancel, terminate, retry an activity now, fork.

Thin and composed from journal calls, so every entry point (the API, a command
line, a UI) takes the same path. Each action is one fenced transaction that also
journals who asked and why; messages are published only after it commits.
"""

from __future__ import annotations

import getpass
import logging
import socket
from typing import TYPE_CHECKING

from .payloads import check_text

if TYPE_CHECKING:
    from .core import Continuum

log = logging.getLogger("continuum_celery.ops")

MAX_REASON = 1000
"""A reason is a sentence for the journal and the logs, not a document."""


def who(by: str | None) -> str:
    """Who acts: as given, else this process's user and host."""
    if by is not None:
        return _text(by, "by", required=True) or ""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _text(value: object, what: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise TypeError(f"{what} must be a {'non-empty ' if required else ''}str, not {value!r}")
    if len(value) > MAX_REASON:
        raise ValueError(f"{what} must be at most {MAX_REASON} characters, not {len(value)}")
    return check_text(value, what)


def cancel(cx: Continuum, run_id: str, reason: str | None, by: str | None) -> None:
    """Ask the run to cancel: its workflow gets ``workflow.Cancelled`` at its wait."""
    reason, actor = _text(reason, "reason"), who(by)
    for woken in cx.runs.cancel(run_id, reason, actor):
        cx.outbox.publish_advance(woken)
    log.warning("run %s: cancel requested by %s%s", run_id, actor, f": {reason}" if reason else "")


def terminate(cx: Continuum, run_id: str, reason: str, by: str | None) -> None:
    """Stop the run now, with its live descendants; no workflow code runs."""
    reason, actor = _text(reason, "reason", required=True) or "", who(by)
    for woken in cx.runs.terminate(run_id, reason, actor):
        cx.outbox.publish_advance(woken)
    log.error("run %s terminated by %s: %s", run_id, actor, reason)


def retry_activity(cx: Continuum, run_id: str) -> int:
    """Make the run's activities that wait out a retry backoff due now; how many."""
    messages = cx.tasks.retry_now(run_id)
    for message in messages:
        cx.outbox.publish_activity(message)
    return len(messages)
