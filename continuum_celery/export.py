"""``cx.export_runs``: runs with their histories, as plain dicts, for an archive
taken before retention deletes them.

Arguments are checked when it is called, not at the first item, so a bad query
fails before anything is written. Each item is the run as ``cx.list_runs`` gives
it (the fields of ``runs list --format jsonl``) plus ``events``: the full history,
as ``cx.history`` gives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from .client import public_run
from .journal.export import runs_with_history
from .listing import MAX_LIMIT
from .query import parse

if TYPE_CHECKING:
    from .core import Continuum

DEFAULT_PAGE = 500


def export_runs(
    cx: Continuum, query: str, page: int, limit: int | None
) -> Iterator[dict[str, Any]]:
    """Matching runs, oldest first, each with ``events``; streamed page by page."""
    check_count(page, "page", MAX_LIMIT)
    if limit is not None:
        check_count(limit, "limit", None)
    node = parse(query)
    cx.schema.check()
    return _items(runs_with_history(cx.db, node, page, limit))


def _items(found: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for record, events in found:
        yield {**_shallow(public_run(record)), "events": [_shallow(event) for event in events]}


def _shallow(item: Any) -> dict[str, Any]:
    """``asdict`` without its deep copy, which was most of an export's time: these
    values were just read from the database, nobody else holds them."""
    return {field.name: getattr(item, field.name) for field in fields(item)}


def check_count(value: object, name: str, most: int | None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1 or (most is not None and value > most):
        upto = f" and at most {most}" if most is not None else ""
        raise ValueError(f"{name} must be at least 1{upto}, not {value}")
