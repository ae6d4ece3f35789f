"""The JSON API for bulk jobs: preview, create, list, read and abort.

A preview writes nothing, yet it is a POST with the CSRF token like the rest, as it
is the first step of an action and open only to operators who may take it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ..core import Continuum
from ..views import BulkPreview, Job
from .auth import check_csrf, require_action
from .bulking import allowed, run_bulk
from .job_models import JobItemOut, JobOut, PreviewOut
from .models import BulkIn, ReasonIn
from .settings import UiSettings


def routes(api: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    _bulk(api, cx, settings)
    _jobs(api, cx, settings)


def _bulk(api: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    csrf = [Depends(check_csrf)]

    @api.post("/bulk/preview", response_model=PreviewOut, dependencies=csrf)
    def preview(body: BulkIn, request: Request) -> PreviewOut:
        """The dry run: how many runs the query matches now, and the newest of them."""
        who = allowed(request, settings, body.action)
        found = run_bulk(cx, who, body.model_dump(), dry_run=True)
        assert isinstance(found, BulkPreview)
        return PreviewOut.of(found, datetime.now(UTC))

    @api.post("/bulk", response_model=JobOut, dependencies=csrf)
    def create(body: BulkIn, request: Request) -> JobOut:
        """Create the job: the matching runs are frozen now, upkeep acts on them."""
        who = allowed(request, settings, body.action)
        job = run_bulk(cx, who, body.model_dump(), dry_run=False)
        assert isinstance(job, Job)
        return JobOut.of(job)


def _jobs(api: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    @api.get("/jobs", response_model=list[JobOut])
    def jobs(state: str | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[JobOut]:  # fmt: skip
        return [JobOut.of(j) for j in cx.list_jobs(state=state, limit=limit)]

    @api.get("/jobs/{job_id}", response_model=JobOut)
    def job(job_id: str) -> JobOut:
        return JobOut.of(cx.get_job(job_id))

    @api.get("/jobs/{job_id}/items", response_model=list[JobItemOut])
    def items(
        job_id: str, state: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> list[JobItemOut]:  # fmt: skip
        return [JobItemOut.of(i) for i in cx.job_items(job_id, state=state, limit=limit)]

    @api.post("/jobs/{job_id}/abort", response_model=JobOut, dependencies=[Depends(check_csrf)])
    def abort(job_id: str, body: ReasonIn, request: Request) -> JobOut:
        who = require_action(request, settings, "bulk")
        return JobOut.of(cx.abort_job(job_id, reason=body.reason, actor=f"ui:{who.name}"))
