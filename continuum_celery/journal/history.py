"""A per-process cache of run histories, so a step reads only what it has not seen.

Events are immutable once committed and a run's journal only grows, so a cached
prefix never goes stale: bringing it up to date is one read of ``seq > last``.
Only committed events are remembered: a writer hands over what it appended only
after its transaction committed. A run's replay inputs (workflow, version, args)
never change either, so they are cached alongside.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from . import queries as Q
from . import waking
from .db import Record, execute
from .rows import events_of, to_event


@dataclass(frozen=True)
class Inputs:
    """A run's replay inputs (``RUN_INPUTS``' columns), copied off a wider row."""

    workflow: str
    version: int
    namespace: str
    args: Any
    kwargs: Any
    attributes: Any
    parent_run_id: str | None
    depth: int

    @classmethod
    def of(cls, row: Record) -> Inputs:
        return cls(row.workflow, row.version, row.namespace, row.args, row.kwargs,
                   row.attributes, row.parent_run_id, row.depth)  # fmt: skip


class HistoryCache:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._runs: OrderedDict[str, list[Event]] = OrderedDict()
        self._inputs: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, conn: Connection, run_id: str, last_seq: int) -> list[Event]:
        """The run's committed events 1..last_seq (a fresh list the caller may extend)."""
        with self._lock:
            cached = self._runs.get(run_id, [])
        have = cached[-1].seq if cached else 0
        if have > last_seq:  # a history we cannot have seen (database replaced): start over
            cached, have = [], 0
        if have < last_seq:
            params = {"run_id": run_id, "after": have, "upto": last_seq}
            rows = execute(conn, Q.LOAD_EVENTS_UPTO, params)
            cached = cached + [to_event(r) for r in rows]
        self.remember(run_id, cached)
        return list(cached)

    def inputs(self, conn: Connection, run_id: str) -> Any:
        """The run's replay inputs row (workflow, version, args, ...), read once."""
        with self._lock:
            row = self._inputs.get(run_id)
        if row is None:
            row = execute(conn, Q.RUN_INPUTS, {"id": run_id}).one()
            with self._lock:
                self._inputs[run_id] = row
                self._trim(self._inputs)
        return row

    def along(self, run_id: str, wanted: bool) -> dict[str, Any]:
        """Parameters for a statement that locks the run and also brings what this
        cache lacks for its replay (``wanted``: there will be one): its events
        after the last one held (``known``), at most ``short`` of them, and its
        replay inputs (``inputs``) unless held. That saves the replay a read."""
        with self._lock:
            held = run_id in self._inputs
        return {"history": wanted, "known": self.known(run_id),
                "inputs": wanted and not held, "short": waking.SHORT_HISTORY}  # fmt: skip

    def take_along(self, run_id: str, after: int, row: Record) -> None:
        """Keep what such a statement brought (see ``along``)."""
        if getattr(row, "seqs", None) is not None:
            self.absorb(run_id, after, events_of(row))
        if getattr(row, "args", None) is not None:
            with self._lock:
                self._inputs[run_id] = Inputs.of(row)
                self._trim(self._inputs)

    def known(self, run_id: str) -> int:
        """The last seq of the run's history held here (0: none)."""
        with self._lock:
            cached = self._runs.get(run_id)
        return cached[-1].seq if cached else 0

    def absorb(self, run_id: str, after: int, events: list[Event]) -> None:
        """Add what a read of the run's events after ``after`` returned. It may lack
        events committed since that read's snapshot (it ran before a lock wait):
        what is kept is still a prefix of the journal, and ``load`` reads the rest."""
        with self._lock:
            cached = self._runs.get(run_id, [])
        have = cached[-1].seq if cached else 0
        if have == after and (not events or events[-1].seq - after == len(events)):
            self.remember(run_id, cached + events)

    def remember(self, run_id: str, events: list[Event]) -> None:
        """Keep ``events``: committed, and exactly the run's journal 1..n."""
        with self._lock:
            self._runs[run_id] = events
            self._runs.move_to_end(run_id)
            self._trim(self._runs)

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            self._inputs.pop(run_id, None)

    def _trim(self, entries: OrderedDict[str, Any]) -> None:
        while len(entries) > self.capacity:
            entries.popitem(last=False)
