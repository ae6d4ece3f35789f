"""Operator reads for pages that draw and poll a run: its attempts and change mark.

Module functions over a ``Continuum`` (as in ``ops``), so a UI reads through the
same checked entry points as everything else and never touches the journal itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import RunNotFound
from .journal import progress
from .journal.db import unavailable
from .runids import check_run_id

if TYPE_CHECKING:
    from .core import Continuum
    from .views import Attempt, RunMark


def attempts(cx: Continuum, run_id: str) -> list[Attempt]:
    """Every attempt of the run's activities, oldest first (RunNotFound if unknown)."""
    found = mark(cx, run_id)  # checks the id and that the run exists
    return progress.attempts(cx.db, found.run_id)


def mark(cx: Continuum, run_id: str) -> RunMark:
    """State, last event seq and counts of attempts and audit rows: it changes
    whenever the run does, so a page polls this and reloads only on a change."""
    run_id = check_run_id(run_id)
    cx.schema.check()
    found = progress.mark(cx.db, run_id)
    if found is None:
        raise RunNotFound(f"no run with id {run_id}")
    return found


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` means Postgres could not be reached: a 503 to a web caller,
    not a bug. (The journal's own test, for rooms that may not import it.)"""
    return unavailable(error)
