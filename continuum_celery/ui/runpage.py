"""What a run's page shows, read through the operator API in a few calls.

A long run (thousands of events) is shown a window at a time: ``SHOWN`` events
(the latest, or from ``from_seq``), with the timeline and attempts of the steps in
them, all read by index. Reading and drawing every row of a 10,000-event run took
seconds and megabytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import progress
from ..core import Continuum
from .settings import ACTIONS, UiSettings
from .timeline import bars

SHOWN = 200


def values(
    cx: Continuum, settings: UiSettings, run_id: str, from_seq: int | None = None
) -> dict[str, Any]:
    described = cx.describe(run_id)
    run = described.run
    mark = progress.mark(cx, run.run_id)
    history = progress.events_window(cx, run.run_id, from_seq, SHOWN)
    steps = sorted({e.command_id for e in history if e.command_id})
    attempts = progress.step_attempts(cx, run.run_id, steps)
    now = datetime.now(UTC)
    return {
        "run": run, "d": described, "history": history, "events_total": mark.last_seq,
        "last_seq": mark.last_seq, "attempts": attempts, "attempts_total": mark.attempts,
        "shown": SHOWN, "audit": cx.audit(run.run_id), "bars": bars(run, history, attempts, now),
        "duration": ((run.completed_at or now) - run.created_at).total_seconds(),
        "mark": mark, "flower": _flower(settings.flower_url),
        "actions": [a for a in ACTIONS if settings.allows(a)],
    }  # fmt: skip


def _flower(url: str | None) -> str | None:
    """Flower's base URL for task links, only if it is an http(s) one."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    return url.rstrip("/")
