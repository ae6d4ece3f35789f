"""Operator reads for pages that draw and poll a run: its attempts and change mark.

Module functions over a ``Continuum`` (as in ``ops``), so a UI reads through the
same checked entry points as everything else and never touches the journal itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import listing
from .errors import RunNotFound
from .journal import listing as journal_listing
from .journal import progress
from .journal.db import unavailable
from .query import parse as parse_query
from .runids import check_run_id

if TYPE_CHECKING:
    from .core import Continuum
    from .engine.events import Event
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


def count_capped(cx: Continuum, query: str, cap: int) -> int:
    """How many runs match ``query``, up to ``cap`` (``cap`` means "that many or
    more"): what an overview on a table of millions of runs can afford each second."""
    node = parse_query(query)
    cx.schema.check()
    with cx.db.engine.connect() as conn:
        return journal_listing.count_capped(conn, node, cap)


def count_recent(
    cx: Continuum, query: str, group_by: tuple[str, ...], cap: int
) -> dict[tuple[Any, ...], int]:
    """Counts per group among the newest ``cap`` runs matching ``query``."""
    groups, node = listing.check_group_by(group_by), parse_query(query)
    cx.schema.check()
    with cx.db.engine.connect() as conn:
        return journal_listing.count_recent(conn, node, groups, cap)


def events_window(cx: Continuum, run_id: str, from_seq: int | None, n: int) -> list[Event]:
    """A page of the run's history: ``n`` events from ``from_seq``, else the latest
    ``n``. A page of a run with 10,000 events reads 200 of them, not all."""
    found = mark(cx, run_id)
    return progress.events_window(cx.db, found.run_id, from_seq, n)


def step_attempts(cx: Continuum, run_id: str, command_ids: list[str]) -> list[Attempt]:
    """The attempts of the activities with these command ids (the steps a page shows)."""
    run_id = check_run_id(run_id)
    cx.schema.check()
    return progress.step_attempts(cx.db, run_id, command_ids)
