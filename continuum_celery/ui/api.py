"""The JSON API: what the pages show, as documented endpoints under ``/api``.

Reads go through ``Continuum``'s public methods and the operator modules
(``progress``, ``saved``); actions through ``ui.actions``, the same calls as the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from .. import ops, progress, saved
from ..core import Continuum
from . import jobs_api, schedules_ui
from .actions import perform
from .auth import check_csrf, principal, require_action
from .index import MAX_PAGE, PAGE, state_counts
from .job_models import ForkPreviewOut
from .models import (
    ActionOut,
    AttemptOut,
    AuditOut,
    CountGroup,
    CountOut,
    DescribeOut,
    ErrorOut,
    EventOut,
    ForkIn,
    IndexMarkOut,
    MarkOut,
    ReasonIn,
    RunOut,
    RunPageOut,
    RunStateOut,
    SignalIn,  # fmt: skip
    ViewIn,
    ViewOut,
    WhoOut,
)
from .settings import SWITCHABLE, UiSettings

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409)
}


def now() -> datetime:
    return datetime.now(UTC)


def router(cx: Continuum, settings: UiSettings) -> APIRouter:
    api = APIRouter(prefix="/api", responses=ERRORS)
    _reads(api, cx)
    _runs(api, cx)
    _actions(api, cx, settings)
    _views(api, cx, settings)
    jobs_api.routes(api, cx, settings)
    schedules_ui.api_routes(api, cx, settings)

    @api.get("/whoami", response_model=WhoOut)
    def whoami(request: Request) -> WhoOut:
        who = principal(request)
        allowed = [a for a in SWITCHABLE if who.operator and settings.allows(a)]
        return WhoOut(name=who.name, role=who.role, actions=allowed)

    # Last: a run id may hold "/", so this matches what the routes above did not.
    @api.get("/runs/{run_id:runid}", response_model=DescribeOut)
    def describe(run_id: str) -> DescribeOut:
        return DescribeOut.of(cx.describe(run_id), now())

    return api


def _reads(api: APIRouter, cx: Continuum) -> None:
    @api.get("/runs", response_model=RunPageOut)
    def list_runs(
        q: str = "", limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: str | None = None, order: str = "-created_at",
    ) -> RunPageOut:  # fmt: skip
        page = cx.list_runs(q, limit=limit, cursor=cursor, order=order)
        moment = now()
        return RunPageOut(runs=[RunOut.of(r, moment) for r in page.runs],
                          next_cursor=page.next_cursor)  # fmt: skip

    @api.get("/index-mark", response_model=IndexMarkOut)
    def index_mark(
        q: str = "", limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE
    ) -> IndexMarkOut:
        """Changes when the index would: poll this rather than ``/count``, which is
        exact and reads every matching run."""
        page = cx.list_runs(q, limit=limit)
        return IndexMarkOut(
            counts=state_counts(cx, q),
            runs=[RunStateOut(run_id=r.run_id, state=r.state) for r in page.runs],
        )

    @api.get("/count", response_model=CountOut)
    def count_runs(q: str = "", group_by: Annotated[list[str], Query()] = []) -> CountOut:  # noqa: B006
        found = cx.count_runs(q, group_by=tuple(group_by))
        groups = [CountGroup(key=dict(zip(group_by, key, strict=True)), count=n)
                  for key, n in sorted(found.items(), key=lambda kv: str(kv[0]))]  # fmt: skip
        return CountOut(total=sum(found.values()), groups=groups)


def _runs(api: APIRouter, cx: Continuum) -> None:
    @api.get("/runs/{run_id:runid}/history", response_model=list[EventOut])
    def history(run_id: str) -> list[EventOut]:
        return [EventOut.of(e) for e in cx.history(run_id)]

    @api.get("/runs/{run_id:runid}/attempts", response_model=list[AttemptOut])
    def attempts(run_id: str) -> list[AttemptOut]:
        return [AttemptOut.of(a) for a in progress.attempts(cx, run_id)]

    @api.get("/runs/{run_id:runid}/audit", response_model=list[AuditOut])
    def audit(run_id: str) -> list[AuditOut]:
        return [AuditOut.of(a) for a in cx.audit(run_id)]

    @api.get("/runs/{run_id:runid}/fork-preview", response_model=ForkPreviewOut)
    def fork_preview(
        run_id: str, at_seq: Annotated[int | None, Query(ge=1)] = None
    ) -> ForkPreviewOut:
        """Which steps a fork at ``at_seq`` (default: from the failure) reuses and re-runs."""
        return ForkPreviewOut.of(ops.fork_preview(cx, run_id, at_seq))

    @api.get("/runs/{run_id:runid}/mark", response_model=MarkOut)
    def mark(run_id: str) -> MarkOut:
        """Changes whenever the run does: poll this, reload the rest on a change."""
        return MarkOut.of(progress.mark(cx, run_id))


def _actions(api: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    csrf = [Depends(check_csrf)]

    def act(request: Request, action: str, run_id: str, fields: dict[str, Any]) -> ActionOut:
        who = require_action(request, settings, action)
        return ActionOut(run_id=run_id, action=action,
                         detail=perform(cx, who, action, run_id, fields))  # fmt: skip

    @api.post("/runs/{run_id:runid}/signal", response_model=ActionOut, dependencies=csrf)
    def signal(run_id: str, body: SignalIn, request: Request) -> ActionOut:
        return act(request, "signal", run_id, body.model_dump())

    @api.post("/runs/{run_id:runid}/cancel", response_model=ActionOut, dependencies=csrf)
    def cancel(run_id: str, body: ReasonIn, request: Request) -> ActionOut:
        return act(request, "cancel", run_id, body.model_dump())

    @api.post("/runs/{run_id:runid}/terminate", response_model=ActionOut, dependencies=csrf)
    def terminate(run_id: str, body: ReasonIn, request: Request) -> ActionOut:
        return act(request, "terminate", run_id, body.model_dump())

    @api.post("/runs/{run_id:runid}/retry-activity", response_model=ActionOut, dependencies=csrf)
    def retry_activity(run_id: str, body: ReasonIn, request: Request) -> ActionOut:
        return act(request, "retry_activity", run_id, body.model_dump())

    @api.post("/runs/{run_id:runid}/fork", response_model=ActionOut, dependencies=csrf)
    def fork(run_id: str, body: ForkIn, request: Request) -> ActionOut:
        return act(request, "fork", run_id, body.model_dump())


def _views(api: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    @api.get("/views", response_model=list[ViewOut])
    def views() -> list[ViewOut]:
        return [ViewOut(**vars(v)) for v in saved.saved_views_all(cx)]

    @api.post("/views", response_model=ViewOut, dependencies=[Depends(check_csrf)])
    def save_view(body: ViewIn, request: Request) -> ViewOut:
        """Any signed-in user may save a view (it changes no run); not a read-only UI."""
        if not settings.configured:
            raise HTTPException(403, "read-only: no credentials are configured for this UI")
        saved.save_view(cx, body.name, body.query, actor=f"ui:{principal(request).name}")
        return ViewOut(**vars(saved.saved_view(cx, body.name)))
