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

from .client import RunHandle
from .engine.forking import default_cut, plan
from .errors import UnknownWorkflow
from .journal import forks
from .payloads import check_text

if TYPE_CHECKING:
    from .core import Continuum
    from .journal.records import RunRecord

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
    run = cx.runs.get_run(cx.runs.tip(run_id))
    log.error("run %s (%s) terminated by %s: %s", run.run_id, run.workflow, actor, reason)


def retry_activity(cx: Continuum, run_id: str) -> int:
    """Make the run's activities that wait out a retry backoff due now; how many."""
    messages = cx.tasks.retry_now(run_id)
    for message in messages:
        cx.outbox.publish_activity(message)
    return len(messages)


def fork(
    cx: Continuum, run_id: str, at_seq: int | None, reason: str | None, by: str | None
) -> RunHandle:
    """A new run with the original's history before ``at_seq``, on today's code.

    ``at_seq=None`` cuts "from the failure": before the failed activity was
    scheduled, at the drift point, or after everything for any other run. The
    original is left as it is; forking at the same point again returns that fork.
    """
    source = cx.runs.get_run(run_id)
    history = cx.runs.history(run_id)
    cut = default_cut(source.state, source.error, history) if at_seq is None else at_seq
    note = {"reason": _text(reason, "reason"), "by": who(by)}
    fork_id, messages = forks.create(cx.db, run_id, plan(history, cut), _version(cx, source), note)
    for message in messages or ():
        cx.outbox.publish_activity(message)
    if messages is not None:
        cx.outbox.publish_advance(fork_id)
        log.warning("run %s forked from %s at seq %d by %s", fork_id, run_id, cut, note["by"])
    return RunHandle(cx, fork_id)


def _version(cx: Continuum, source: RunRecord) -> int:
    """Today's code: the newest version this process knows, else the original's."""
    try:
        return cx.registry.workflow(source.workflow).version
    except UnknownWorkflow:
        return source.version
