"""Bulk jobs from the UI: one call of ``cx.bulk`` for the JSON API and the pages.

A bulk action needs the operator role, the ``bulk`` switch and the switch of the
action it applies (switching off ``terminate`` also switches off bulk terminate).
The job's audit rows come from ``cx.bulk`` itself, with the reason and ``ui:<user>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..core import Continuum
from ..views import BulkPreview, Job
from .actions import payload_of
from .auth import require_action
from .settings import Principal, UiSettings

SAMPLE = 10


def allowed(request: Request, settings: UiSettings, action: str) -> Principal:
    """The operator who may run bulk ``action`` now, else 403 saying why."""
    require_action(request, settings, "bulk")
    return require_action(request, settings, action)


def action_args(action: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Only the arguments ``action`` takes, from an API body or a form's fields."""
    if action == "signal":
        return {"name": fields.get("name"), "payload": fields.get("payload")}
    if action == "fork":
        return {"at_seq": fields.get("at_seq")}
    return {}


def run_bulk(
    cx: Continuum, who: Principal, fields: dict[str, Any], dry_run: bool
) -> BulkPreview | Job:
    """The dry run (count and sample) or the job, as ``who`` with the form's reason."""
    action = str(fields.get("action", ""))
    reason = fields.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a reason is required: it is kept in the audit trail")
    query = str(fields.get("query", ""))
    return cx.bulk(action, query, reason=reason.strip(), dry_run=dry_run, actor=f"ui:{who.name}",
                   sample=SAMPLE, **action_args(action, fields))  # fmt: skip


def form_fields(form: dict[str, Any]) -> dict[str, Any]:
    """A bulk form's strings as ``run_bulk`` takes them: JSON payload, integer seq."""
    fields: dict[str, Any] = {k: v.strip() if k != "payload" else v
                              for k, v in form.items() if isinstance(v, str)}  # fmt: skip
    fields["payload"] = payload_of(fields.get("payload", ""))
    seq = fields.get("at_seq", "")
    if seq and not seq.isdigit():
        raise ValueError(f"at_seq must be a whole number, not {seq!r}")
    fields["at_seq"] = int(seq) if seq else None
    return fields
