"""What a run's page shows, read through the operator API in a few calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import progress
from ..core import Continuum
from .settings import ACTIONS, UiSettings
from .timeline import bars


def values(cx: Continuum, settings: UiSettings, run_id: str) -> dict[str, Any]:
    described = cx.describe(run_id)
    run = described.run
    history = cx.history(run.run_id)
    attempts = progress.attempts(cx, run.run_id)
    now = datetime.now(UTC)
    return {
        "run": run, "d": described, "history": history, "attempts": attempts,
        "audit": cx.audit(run.run_id), "bars": bars(run, history, attempts, now),
        "duration": ((run.completed_at or now) - run.created_at).total_seconds(),
        "mark": progress.mark(cx, run.run_id), "flower": _flower(settings.flower_url),
        "actions": [a for a in ACTIONS if settings.allows(a)],
    }  # fmt: skip


def _flower(url: str | None) -> str | None:
    """Flower's base URL for task links, only if it is an http(s) one."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    return url.rstrip("/")
