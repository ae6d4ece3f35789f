"""The JSON shapes of previews (a bulk dry run, a fork) and of bulk jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ..engine.fork_preview import ForkPreview, ForkStep
from ..views import BulkPreview, Job, JobItem
from .models import RunOut


class PreviewOut(BaseModel):
    action: str
    query: str
    count: int
    sample: list[RunOut]

    @classmethod
    def of(cls, p: BulkPreview, now: datetime) -> PreviewOut:
        return cls(action=p.action, query=p.query, count=p.count,
                   sample=[RunOut.of(r, now) for r in p.sample])  # fmt: skip


class JobOut(BaseModel):
    job_id: str
    action: str
    query: str
    args: dict[str, Any]
    reason: str
    actor: str
    state: str
    total: int
    done: int
    failed: int
    left: int
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, j: Job) -> JobOut:
        return cls(**{name: getattr(j, name) for name in cls.model_fields})


class JobItemOut(BaseModel):
    run_id: str
    state: str
    error: str | None
    ended_at: datetime | None

    @classmethod
    def of(cls, i: JobItem) -> JobItemOut:
        return cls(run_id=i.run_id, state=i.state, error=i.error, ended_at=i.ended_at)


class ForkStepOut(BaseModel):
    command_id: str
    kind: str
    name: str
    scheduled_seq: int
    outcome: str | None
    outcome_seq: int | None
    reused: bool

    @classmethod
    def of(cls, s: ForkStep) -> ForkStepOut:
        return cls(**vars(s))


class ForkPreviewOut(BaseModel):
    at_seq: int
    kept_events: int
    dropped_events: int
    reused: list[ForkStepOut]
    rerun: list[ForkStepOut]
    refusal: str | None

    @classmethod
    def of(cls, p: ForkPreview) -> ForkPreviewOut:
        return cls(at_seq=p.at_seq, kept_events=p.kept_events, dropped_events=p.dropped_events,
                   reused=[ForkStepOut.of(s) for s in p.reused],
                   rerun=[ForkStepOut.of(s) for s in p.rerun], refusal=p.refusal)  # fmt: skip
