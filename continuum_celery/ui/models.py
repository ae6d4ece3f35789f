"""The JSON API's shapes, for FastAPI to check responses and publish /openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..client import Run
from ..engine.events import Event
from ..views import Attempt, AuditEntry, Description, RunLink, RunMark


class ErrorOut(BaseModel):
    error: str
    position: int | None = None


class RunOut(BaseModel):
    run_id: str
    workflow: str
    version: int
    state: str
    namespace: str
    created_at: datetime
    completed_at: datetime | None
    duration: float | None = Field(description="seconds from start to end (or to now)")
    attributes: dict[str, Any]
    parent_run_id: str | None
    error: str | None
    traceback: str | None
    result: Any = None
    args: list[Any]
    kwargs: dict[str, Any]
    continued_from: str | None
    next_run_id: str | None
    forked_from: str | None
    fork_seq: int | None
    cancel_reason: str | None

    @classmethod
    def of(cls, run: Run, now: datetime) -> RunOut:
        end = run.completed_at or now
        return cls(run_id=run.run_id, workflow=run.workflow, version=run.version,
                   state=run.state, namespace=run.namespace, created_at=run.created_at,
                   completed_at=run.completed_at,
                   duration=max((end - run.created_at).total_seconds(), 0.0),
                   attributes=run.attributes, parent_run_id=run.parent_run_id,
                   error=run.error, traceback=run.traceback, result=run.result,
                   args=run.args, kwargs=run.kwargs, continued_from=run.continued_from,
                   next_run_id=run.next_run_id, forked_from=run.forked_from,
                   fork_seq=run.fork_seq, cancel_reason=run.cancel_reason)  # fmt: skip


class RunPageOut(BaseModel):
    runs: list[RunOut]
    next_cursor: str | None


class CountGroup(BaseModel):
    key: dict[str, Any]
    count: int


class CountOut(BaseModel):
    total: int
    groups: list[CountGroup]


class EventOut(BaseModel):
    seq: int
    type: str
    command_id: str | None
    data: dict[str, Any]
    created_at: datetime | None

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(seq=e.seq, type=e.type, command_id=e.command_id, data=e.data,
                   created_at=e.created_at)  # fmt: skip


class AttemptOut(BaseModel):
    task_id: str
    celery_task_id: str
    command_id: str
    activity: str
    kind: str
    attempt: int
    outcome: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(task_id=a.task_id, celery_task_id=a.celery_task_id, command_id=a.command_id,
                   activity=a.activity, kind=a.kind, attempt=a.attempt, outcome=a.outcome,
                   error=a.error, started_at=a.started_at, finished_at=a.finished_at)  # fmt: skip


class AuditOut(BaseModel):
    run_id: str | None
    """None on a bulk job's own entries (created, aborted), which name its job."""
    action: str
    actor: str
    reason: str | None
    details: dict[str, Any]
    created_at: datetime
    job_id: str | None = None

    @classmethod
    def of(cls, a: AuditEntry) -> AuditOut:
        return cls(run_id=a.run_id, action=a.action, actor=a.actor, reason=a.reason,
                   details=a.details, created_at=a.created_at, job_id=a.job_id)  # fmt: skip


class LinkOut(BaseModel):
    run_id: str
    workflow: str
    state: str
    fork_seq: int | None

    @classmethod
    def of(cls, link: RunLink) -> LinkOut:
        return cls(run_id=link.run_id, workflow=link.workflow, state=link.state,
                   fork_seq=link.fork_seq)  # fmt: skip


class DescribeOut(BaseModel):
    run: RunOut
    activities: list[dict[str, Any]]
    timers: list[dict[str, Any]]
    awaited_signals: list[dict[str, Any]]
    buffered_signals: list[dict[str, Any]]
    parent: LinkOut | None
    children: list[LinkOut]
    chain: list[str]
    forked_from: LinkOut | None
    forks: list[LinkOut]

    @classmethod
    def of(cls, d: Description, now: datetime) -> DescribeOut:
        def link(x: RunLink | None) -> LinkOut | None:
            return None if x is None else LinkOut.of(x)

        return cls(run=RunOut.of(d.run, now), activities=[vars(a) for a in d.activities],
                   timers=[vars(t) for t in d.timers],
                   awaited_signals=[vars(s) for s in d.awaited_signals],
                   buffered_signals=[vars(s) for s in d.buffered_signals],
                   parent=link(d.parent), children=[LinkOut.of(c) for c in d.children],
                   chain=d.chain, forked_from=link(d.forked_from),
                   forks=[LinkOut.of(f) for f in d.forks])  # fmt: skip


class MarkOut(BaseModel):
    run_id: str
    state: str
    last_seq: int
    attempts: int
    audits: int

    @classmethod
    def of(cls, m: RunMark) -> MarkOut:
        return cls(run_id=m.run_id, state=m.state, last_seq=m.last_seq, attempts=m.attempts,
                   audits=m.audits)  # fmt: skip


class ViewOut(BaseModel):
    name: str
    query: str
    created_by: str
    created_at: datetime


class WhoOut(BaseModel):
    name: str
    role: str
    actions: list[str]


REASON = Field(min_length=1, max_length=1000, description="why: kept in the audit trail")


class SignalIn(BaseModel):
    name: str = Field(min_length=1)
    payload: Any = None
    reason: str = REASON


class ReasonIn(BaseModel):
    reason: str = REASON


class ForkIn(BaseModel):
    at_seq: int | None = Field(None, ge=1)
    reason: str = REASON


class ViewIn(BaseModel):
    name: str
    query: str


class ActionOut(BaseModel):
    run_id: str
    action: str
    detail: str


class BulkIn(BaseModel):
    action: str = Field(description="cancel, terminate, fork or signal")
    query: str = Field(description="the runs to act on, in the query language")
    reason: str = REASON
    name: str | None = Field(None, description="signal: its name")
    payload: Any = Field(None, description="signal: its payload")
    at_seq: int | None = Field(None, ge=1, description="fork: the seq to fork at")


class RunStateOut(BaseModel):
    run_id: str
    state: str


class IndexMarkOut(BaseModel):
    """What the index shows, cheaply: per-state counts up to a cap, and the first
    page's runs with their states. A page polls this and reloads on a change."""

    counts: dict[str, int]
    runs: list[RunStateOut]
