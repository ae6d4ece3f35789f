"""A per-process cache of run histories, so a wake reads only the new events.

Events are immutable once committed and a run's journal only grows, so a cached
prefix never goes stale: bringing it up to date is one read of ``seq > last``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import Connection

from ..engine.events import Event
from . import queries as Q
from .rows import to_event


class HistoryCache:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._runs: OrderedDict[str, list[Event]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, conn: Connection, run_id: str, last_seq: int) -> list[Event]:
        """The run's events 1..last_seq (a fresh list the caller may extend)."""
        with self._lock:
            cached = self._runs.get(run_id, [])
        have = cached[-1].seq if cached else 0
        if have > last_seq:  # a history we cannot have seen (database replaced): start over
            cached, have = [], 0
        if have < last_seq:
            rows = conn.execute(Q.LOAD_EVENTS, {"run_id": run_id, "after": have})
            cached = cached + [to_event(r) for r in rows]
        self._remember(run_id, cached)
        return list(cached)

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def _remember(self, run_id: str, events: list[Event]) -> None:
        with self._lock:
            self._runs[run_id] = events
            self._runs.move_to_end(run_id)
            while len(self._runs) > self.capacity:
                self._runs.popitem(last=False)
