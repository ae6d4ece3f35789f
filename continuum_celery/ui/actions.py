"""The actions the UI offers, each one call of the operator API the CLI uses too.

Both the JSON endpoints and the run page's forms come here, so a rule (a role, a
switched-off action, the audit row with actor and reason) holds for both.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import Continuum
from .settings import Principal


def _reason(fields: dict[str, Any]) -> str:
    """Every action from the UI says why: the reason lands in the audit trail."""
    reason = fields.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a reason is required: it is kept in the run's audit trail")
    return reason.strip()


def payload_of(text: str) -> Any:
    """A form's JSON payload field: empty means null; anything else must parse."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"payload is not JSON: {error.msg} at position {error.pos}") from None


def perform(cx: Continuum, who: Principal, action: str, run_id: str, fields: dict[str, Any]) -> str:
    """Run ``action`` on ``run_id`` as ``who``; a sentence saying what happened."""
    reason, actor = _reason(fields), f"ui:{who.name}"
    if action == "signal":
        name = fields.get("name")
        cx.signal(run_id, name, fields.get("payload"), actor=actor, reason=reason)  # type: ignore[arg-type]
        return f"signal {name!r} delivered"
    if action == "cancel":
        cx.cancel(run_id, reason, actor=actor)
        return "cancel requested"
    if action == "terminate":
        cx.terminate(run_id, reason, actor=actor)
        return "terminated"
    if action == "retry_activity":
        count = cx.retry_activity(run_id, reason=reason, actor=actor)
        return f"{count} activit{'y' if count == 1 else 'ies'} due now"
    if action == "fork":
        handle = cx.fork(run_id, at_seq=fields.get("at_seq"), reason=reason, actor=actor)
        return f"forked as {handle.run_id}"
    raise ValueError(f"unknown action {action!r}")
