"""Reading runs with their whole histories, a page at a time, for an archive.

Each page is one snapshot (a REPEATABLE READ transaction): the runs of the page
and their events agree, even while runs advance or retention deletes them. The
events of a page come in one statement, streamed, so memory holds a page of run
rows and one run's history, however many runs or events there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Connection

from ..engine.events import Event
from ..query import Node
from .db import Database, Record
from .listing import Key, list_runs
from .queries import q
from .records import RunRecord
from .rows import to_event

# A page of runs' histories in one statement, in the page's order, then by seq: the
# reader streams it (a server-side cursor) and cuts it per run as it goes.
EXPORT_EVENTS = q(
    "SELECT page.at, e.seq, e.type, e.command_id, e.data, e.created_at"
    " FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS page(run_id, at)"
    ' JOIN cx_events e ON e.run_id = page.run_id COLLATE "C"'
    " ORDER BY page.at, e.seq"
)


ORDER = "created_at"
"""Oldest first: the runs retention deletes first come out first."""
STREAM_ROWS = 1000
"""Events fetched from the server-side cursor at a time."""


def runs_with_history(
    db: Database, node: Node | None, page: int, limit: int | None
) -> Iterator[tuple[RunRecord, list[Event]]]:
    """Every run matching ``node`` (at most ``limit``), with its events 1..n."""
    after: Key | None = None
    left = limit
    while left is None or left > 0:
        size = page if left is None else min(page, left)
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                found = list_runs(conn, node, ORDER, size, after)
                yield from _merge(found.records, _events(conn, found.records))
        left = None if left is None else left - len(found.records)
        if found.last_key is None:
            return
        after = found.last_key


def _events(conn: Connection, records: list[RunRecord]) -> Iterable[Record]:
    if not records:
        return []
    ids = [record.run_id for record in records]
    options = {"yield_per": STREAM_ROWS}
    return conn.execute(EXPORT_EVENTS, {"ids": ids}, execution_options=options)


def _merge(
    records: list[RunRecord], rows: Iterable[Record]
) -> Iterator[tuple[RunRecord, list[Event]]]:
    """Cut the page's event stream (ordered by place in the page, then seq) per run;
    a run with no events yet gets an empty history."""
    stream = iter(rows)
    row = next(stream, None)
    for at, record in enumerate(records, 1):
        events = []
        while row is not None and row.at == at:
            events.append(to_event(row))
            row = next(stream, None)
        yield record, events
