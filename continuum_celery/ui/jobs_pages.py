"""The bulk dialog's steps and the jobs pages, server-rendered.

From the index's query: the form posts to ``/bulk/preview``, which shows the dry
run's count and sample with a confirm button; confirming posts ``/bulk``, which
creates the job and sends the browser to ``/jobs/<id>`` to watch it and abort it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ..core import Continuum
from ..views import Job
from . import schedules_ui
from .auth import check_csrf, require_action
from .bulking import allowed, form_fields, run_bulk
from .errors import message, status_of
from .render import page, pathpart
from .settings import UiSettings

FAILED_SHOWN = 200


def router(cx: Continuum, settings: UiSettings) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    _bulk(pages, cx, settings)
    _jobs(pages, cx, settings)
    schedules_ui.page_routes(pages, cx, settings)
    return pages


def _bulk(pages: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    csrf = [Depends(check_csrf)]

    @pages.post("/bulk/preview", dependencies=csrf)
    async def preview(request: Request) -> Response:
        form = dict(await request.form())
        try:
            fields = form_fields(form)
            who = allowed(request, settings, str(fields.get("action", "")))
            found = run_bulk(cx, who, fields, dry_run=True)
        except Exception as error:
            return _refused(request, settings, error, form)
        return page(request, "bulk.html", settings=settings, form=form, preview=found)

    @pages.post("/bulk", dependencies=csrf)
    async def create(request: Request) -> Response:
        form = dict(await request.form())
        try:
            fields = form_fields(form)
            who = allowed(request, settings, str(fields.get("action", "")))
            job = run_bulk(cx, who, fields, dry_run=False)
        except Exception as error:
            return _refused(request, settings, error, form)
        assert isinstance(job, Job)
        return _to_job(request, job.job_id)


def _refused(
    request: Request, settings: UiSettings, error: Exception, form: dict[str, Any]
) -> Response:
    """The dialog again with the refusal's one line; a bug stays a 500."""
    status = getattr(error, "status_code", None) or status_of(error)
    if status >= 500:
        raise error
    detail = str(getattr(error, "detail", "")) or message(error)
    return page(request, "bulk.html", status, settings=settings, form=form, problem=detail)


def _to_job(request: Request, job_id: str) -> Response:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/jobs/{pathpart(job_id)}", 303)


def _jobs(pages: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    @pages.get("/jobs")
    def jobs(request: Request) -> Response:
        return page(request, "jobs.html", settings=settings, jobs=cx.list_jobs(limit=100))

    @pages.get("/jobs/{job_id}")
    def job(request: Request, job_id: str) -> Response:
        found = cx.get_job(job_id)
        failed = cx.job_items(found.job_id, state="failed", limit=FAILED_SHOWN)
        can_abort = settings.allows("bulk") and found.state == "running"
        return page(request, "job.html", settings=settings, job=found, failed=failed,
                    can_abort=can_abort)  # fmt: skip

    @pages.post("/jobs/{job_id}/abort", dependencies=[Depends(check_csrf)])
    async def abort(request: Request, job_id: str) -> Response:
        who = require_action(request, settings, "bulk")
        reason = str((await request.form()).get("reason", "")).strip()
        if not reason:
            raise ValueError("a reason is required: it is kept in the audit trail")
        cx.abort_job(job_id, reason=reason, actor=f"ui:{who.name}")
        return _to_job(request, job_id)
