"""Schedules in the UI: a page and JSON endpoints listing them, and the operator
actions pause, unpause and trigger, all through ``cx.schedules``.

The actions need the operator role, the CSRF token and the ``schedules`` switch. A
reason is required; pause and unpause keep it as the schedule's note (shown with
it), as ``cx.schedules`` keeps no audit rows of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from ..core import Continuum
from .auth import check_csrf, require_action
from .models import ReasonIn
from .render import page, pathpart
from .schedule_models import ScheduleActionOut, ScheduleOut
from .settings import UiSettings

ACTIONS = ("pause", "unpause", "trigger")
LISTED = 100


def schedules(cx: Continuum, limit: int) -> list[ScheduleOut]:
    return [ScheduleOut.of(cx.schedules.describe(s.schedule_id, upcoming=3))
            for s in cx.schedules.list(limit=limit)]  # fmt: skip


def act(cx: Continuum, schedule_id: str, action: str, reason: Any) -> ScheduleActionOut:
    """``action`` on the schedule; a reason is required (and kept as its note)."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a reason is required: it is kept as the schedule's note")
    if action == "pause":
        cx.schedules.pause(schedule_id, reason.strip())
        return ScheduleActionOut(schedule_id=schedule_id, action=action, detail="paused")
    if action == "unpause":
        cx.schedules.unpause(schedule_id, reason.strip())
        return ScheduleActionOut(schedule_id=schedule_id, action=action, detail="unpaused")
    if action == "trigger":
        run_id = cx.schedules.trigger(schedule_id)
        detail = f"started run {run_id}" if run_id else "not started: the overlap policy held it"
        return ScheduleActionOut(schedule_id=schedule_id, action=action, detail=detail,
                                 run_id=run_id)  # fmt: skip
    raise LookupError(f"no schedule action {action!r}")


def api_routes(api: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    @api.get("/schedules", response_model=list[ScheduleOut])
    def listed(limit: Annotated[int, Query(ge=1, le=1000)] = LISTED) -> list[ScheduleOut]:
        return schedules(cx, limit)

    @api.get("/schedules/{schedule_id}", response_model=ScheduleOut)
    def one(schedule_id: str) -> ScheduleOut:
        return ScheduleOut.of(cx.schedules.describe(schedule_id, upcoming=3))

    @api.post("/schedules/{schedule_id}/{action}", response_model=ScheduleActionOut,
              dependencies=[Depends(check_csrf)])  # fmt: skip
    def action(
        schedule_id: str, action: str, body: ReasonIn, request: Request
    ) -> ScheduleActionOut:
        require_action(request, settings, "schedules")
        return act(cx, schedule_id, action, body.reason)


def page_routes(pages: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    @pages.get("/schedules", include_in_schema=False)
    def listing(request: Request, done: str = "") -> Response:
        return page(request, "schedules.html", settings=settings, schedules=schedules(cx, LISTED),
                    notice=done or None)  # fmt: skip

    @pages.post("/schedules/{schedule_id}/{action}", include_in_schema=False,
                dependencies=[Depends(check_csrf)])  # fmt: skip
    async def action(request: Request, schedule_id: str, action: str) -> Response:
        require_action(request, settings, "schedules")
        done = act(cx, schedule_id, action, (await request.form()).get("reason"))
        root = request.scope.get("root_path", "")
        target = f"{root}/schedules?done={pathpart(schedule_id + ': ' + done.detail)}"
        return RedirectResponse(target, 303)
