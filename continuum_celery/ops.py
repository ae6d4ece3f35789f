"""Operator actions on runs (signal, cancel, terminate, retry an activity now, fork)
and what operators read (audit trail, a run described).

Thin and composed from journal calls, so every entry point (the API, a command
line, a UI) takes the same path. Each action is one fenced transaction that also
writes its audit row (who, why, what); messages are published only after it commits.
"""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from .checks import age_seconds
from .client import RunHandle
from .engine.fork_preview import ForkPreview, preview
from .engine.forking import default_cut, plan
from .errors import UnknownWorkflow
from .journal import audit as audit_rows
from .journal import forks
from .journal.audit import Actor
from .journal.db import ConfigurationError
from .journal.describe import describe as describe_run
from .opsaudit import AuditFilters, audit_query
from .payloads import check_text
from .runids import check_run_id
from .runtime.report import report
from .runtime.transport import publish_commit

if TYPE_CHECKING:
    from .client import Run
    from .core import Continuum
    from .journal.records import RunRecord
    from .views import AuditEntry, Description

log = logging.getLogger("continuum_celery.ops")

MAX_AUDIT_LOG = 10_000
"""Entries one audit_log read returns at most."""

MAX_REASON = 1000
"""A reason is a sentence for the journal and the logs, not a document."""


def who(actor: str | None) -> str:
    """Who acts: as given, else this process's user and host."""
    if actor is not None:
        return _text(actor, "actor", required=True) or ""
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


def acting(cx: Continuum, actor: str | None, reason: str | None, required: bool = False) -> Actor:
    """Who acts (as given, else the engine's default) and why, checked."""
    name = cx.actor if actor is None else who(actor)
    return Actor(name, _text(reason, "reason", required=required))


def signal(cx: Continuum, run_id: str, name: str, payload: object, by: Actor) -> None:
    """Deliver (or buffer) a signal; the audit row rides in the same transaction.

    With the run's code here (and ``eager``), the run the signal resumes is
    replayed in that transaction too, and what its next decision needs is
    published here; otherwise a wakeup asks a worker to replay it.
    """
    decide = cx.advancer.decide_signalled if cx.eager else None
    signalled = cx.runs.signal(run_id, name, payload, by, decide)
    if signalled.commit is not None:
        report(signalled.commit.ending, cx.hooks)
        publish_commit(cx.outbox, signalled.commit)
    elif signalled.woken is not None:
        cx.outbox.publish_advance(signalled.woken)


def cancel(cx: Continuum, run_id: str, reason: str | None, actor: str | None) -> None:
    """Ask the run to cancel: its workflow gets ``workflow.Cancelled`` at its wait."""
    cancel_by(cx, run_id, acting(cx, actor, reason))


def cancel_by(cx: Continuum, run_id: str, by: Actor) -> None:
    """``cancel`` for an actor already checked (a bulk job's, say)."""
    for woken in cx.runs.cancel(run_id, by):
        cx.outbox.publish_advance(woken)
    because = f": {by.reason}" if by.reason else ""
    log.warning("run %s: cancel requested by %s%s", run_id, by.actor, because)


def terminate(cx: Continuum, run_id: str, reason: str, actor: str | None) -> None:
    """Stop the run now, with its live descendants; no workflow code runs."""
    terminate_by(cx, run_id, acting(cx, actor, reason, required=True))


def terminate_by(cx: Continuum, run_id: str, by: Actor) -> None:
    """``terminate`` for an actor already checked, with a reason."""
    for woken in cx.runs.terminate(run_id, by):
        cx.outbox.publish_advance(woken)
    run = cx.runs.get_run(cx.runs.tip(run_id))
    log.error("run %s (%s) terminated by %s: %s", run.run_id, run.workflow, by.actor, by.reason)


def retry_activity(cx: Continuum, run_id: str, reason: str | None, actor: str | None) -> int:
    """Make the run's activities that wait out a retry backoff due now; how many."""
    messages = cx.tasks.retry_now(run_id, acting(cx, actor, reason))
    for message in messages:
        cx.outbox.publish_activity(message)
    return len(messages)


def fork(
    cx: Continuum, run_id: str, at_seq: int | None, reason: str | None, actor: str | None
) -> RunHandle:
    """A new run with the original's history before ``at_seq``, on today's code.

    ``at_seq=None`` cuts "from the failure": before the failed activity was
    scheduled, at the drift point, or after everything for any other run. The
    original is left as it is; forking at the same point again returns that fork.
    """
    return fork_by(cx, run_id, at_seq, acting(cx, actor, reason))


def fork_by(cx: Continuum, run_id: str, at_seq: int | None, by: Actor) -> RunHandle:
    """``fork`` for an actor already checked."""
    source = cx.runs.get_run(run_id)
    history = cx.runs.history(run_id)
    cut = default_cut(source.state, source.error, history) if at_seq is None else at_seq
    fork_id, messages = forks.create(cx.db, run_id, plan(history, cut), _version(cx, source), by)
    for message in messages or ():
        cx.outbox.publish_activity(message)
    if messages is not None:
        cx.outbox.publish_advance(fork_id)
        log.warning("run %s forked from %s at seq %d by %s", fork_id, run_id, cut, by.actor)
    return RunHandle(cx, fork_id)


def fork_preview(cx: Continuum, run_id: str, at_seq: int | None) -> ForkPreview:
    """Which steps a fork at ``at_seq`` (None: from the failure, as ``fork``) reuses
    and which run again; reads only, so an operator can look before forking."""
    source = cx.runs.get_run(check_run_id(run_id))
    history = cx.runs.history(source.run_id)
    cut = default_cut(source.state, source.error, history) if at_seq is None else at_seq
    return preview(history, cut)


def describe(cx: Continuum, run_id: str, to_run: Callable[[RunRecord], Run]) -> Description:
    """The run described whole, read in one snapshot."""
    return describe_run(cx.db, run_id, to_run)


def audit(cx: Continuum, run_id: str) -> list[AuditEntry]:
    """The run's audit entries, oldest first (RunNotFound for an unknown run)."""
    entries = audit_rows.of_run(cx.db, run_id)
    if not entries:
        cx.runs.get_run(run_id)
    return entries


def audit_log(cx: Continuum, query: str, filters: AuditFilters, limit: int) -> list[AuditEntry]:
    """The latest entries across runs, newest first."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_AUDIT_LOG:
        raise ValueError(f"limit must be an int from 1 to {MAX_AUDIT_LOG}, not {limit!r}")
    node = audit_query(query, filters)
    cx.schema.check()
    return audit_rows.latest(cx.db, node, limit)


def _version(cx: Continuum, source: RunRecord) -> int:
    """Today's code: the newest version this process knows, else the original's."""
    try:
        return cx.registry.workflow(source.workflow).version
    except UnknownWorkflow:
        return source.version


def prune(cx: Continuum, older_than: timedelta | float | None, batch: int) -> int:
    """One batch of finished runs older than ``older_than`` (else the retention)."""
    age = age_seconds(older_than) if older_than is not None else cx.sweeper.settings.retention
    if age is None:
        raise ConfigurationError("prune needs older_than= or Continuum(retention=)")
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise TypeError(f"batch must be an int, not {batch!r}")
    if batch < 1:
        raise ConfigurationError(f"batch must be at least 1, not {batch!r}")
    return cx.sweeper.prune(age, batch)
