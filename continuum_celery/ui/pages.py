"""The pages: the runs index and a run's page, server-rendered; forms post actions.

Pages are left out of /openapi.json: the JSON API under /api is the documented
surface, and these render the same reads.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from .. import ops, saved
from ..client import TERMINAL_STATES
from ..core import Continuum
from ..engine.fork_preview import ForkPreview
from . import runpage
from .actions import payload_of, perform
from .auth import check_csrf, principal, require_action
from .errors import message, status_of
from .index import MAX_PAGE, PAGE, index_values
from .render import page, pathpart, refusal
from .settings import ACTIONS, UiSettings


def router(cx: Continuum, settings: UiSettings) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/")
    def index(request: Request, q: str = "", state: str = "", workflow: str = "",
              view: str = "", cursor: str = "", limit: int = PAGE) -> Response:  # fmt: skip
        if not 1 <= limit <= MAX_PAGE:
            return refusal(request, 400, f"limit must be from 1 to {MAX_PAGE}")
        values = index_values(cx, q, state, workflow, view, cursor or None, limit)
        status = 400 if values.get("query_error") else 200
        return page(request, "index.html", status, settings=settings, **values)

    @pages.post("/runs/{run_id:runid}/actions/{action}", dependencies=[Depends(check_csrf)])
    async def act(request: Request, run_id: str, action: str) -> Response:
        if action not in ACTIONS:
            return refusal(request, 404, f"no action {action!r}")
        who = require_action(request, settings, action)
        try:
            perform(cx, who, action, run_id, _fields(dict(await request.form())))
        except Exception as error:
            if status_of(error) >= 500:
                raise
            return _run_page(request, cx, settings, run_id, status_of(error), message(error))
        target = request.scope.get("root_path", "") + f"/runs/{pathpart(run_id)}?done={action}"
        return RedirectResponse(target, 303)

    @pages.get("/runs/{run_id:runid}")
    def run(request: Request, run_id: str, done: str = "", fork_at: str = "",
            from_seq: Annotated[int | None, Query(ge=1)] = None) -> Response:  # fmt: skip
        notice = f"{done.replace('_', ' ')}: done" if done in ACTIONS else None
        extra = {"fork": _fork_preview(cx, run_id, fork_at)} if fork_at else {}
        return _run_page(request, cx, settings, run_id, notice=notice, extra=extra,
                         from_seq=from_seq)  # fmt: skip

    _views(pages, cx, settings)
    return pages


def _views(pages: APIRouter, cx: Continuum, settings: UiSettings) -> None:
    @pages.post("/views", dependencies=[Depends(check_csrf)])
    async def save_view(request: Request) -> Response:
        form = dict(await request.form())
        if not settings.configured:
            return refusal(request, 403, "read-only: no credentials are configured for this UI")
        name = str(form.get("name", ""))
        saved.save_view(cx, name, str(form.get("q", "")), actor=f"ui:{principal(request).name}")
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/?{urlencode({'view': name})}", 303)


def _fields(form: dict[str, Any]) -> dict[str, Any]:
    """A form's strings as the action takes them: JSON payload, integer seq."""
    fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    if "payload" in fields:
        fields["payload"] = payload_of(fields["payload"])
    if "at_seq" in fields:
        seq = fields["at_seq"].strip()
        if seq and not seq.isdigit():
            raise ValueError(f"at_seq must be a whole number, not {seq!r}")
        fields["at_seq"] = int(seq) if seq else None
    return fields


def _fork_preview(cx: Continuum, run_id: str, fork_at: str) -> ForkPreview:
    """The fork preview the page shows: ``failure`` for the default cut, or a seq."""
    if fork_at != "failure" and not fork_at.isdigit():
        raise ValueError(f"fork_at must be a seq or 'failure', not {fork_at!r}")
    return ops.fork_preview(cx, run_id, None if fork_at == "failure" else int(fork_at))


def _run_page(
    request: Request, cx: Continuum, settings: UiSettings, run_id: str,
    status: int = 200, problem: str | None = None, notice: str | None = None,
    extra: dict[str, Any] | None = None, from_seq: int | None = None,
) -> Response:  # fmt: skip
    values = runpage.values(cx, settings, run_id, from_seq) | (extra or {})
    values["terminal"] = values["run"].state in TERMINAL_STATES
    return page(request, "run.html", status, settings=settings, problem=problem,
                notice=notice, **values)  # fmt: skip
