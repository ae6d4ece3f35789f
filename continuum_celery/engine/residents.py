"""A per-process, bounded cache of resident instances, one per run.

:meth:`ResidentCache.decide` is a drop-in for :func:`~.replay.replay`: the same
decision for the same inputs, but a run whose cached instance fits the history
(see :meth:`.Resident.fits`) only runs its new part. Instances are dropped when
their run ends, when a history does not fit them, and least recently used first
beyond ``capacity``; a dropped instance unwinds like a suspended replay.

A greenlet can only be switched to from the thread that made it. An instance met
on another thread (``--pool threads``) is not used there: it is handed back to its
own thread, which unwinds it the next time it decides anything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ..payloads import DEFAULT_MAX_PAYLOAD_BYTES
from .commands import Decision
from .context import LiveSources, WorkflowInfo
from .events import Event
from .replay import replay
from .resident import Call, Resident, thread_root

DEFAULT_CAPACITY = 256
"""Resident instances per process; 0 turns the cache off (every decision replays)."""


class ResidentCache:
    """Run id -> its resident instance, least recently used first; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.builds = 0
        """Decisions that ran the workflow from the top (to tell misses from hits)."""
        self.resumes = 0
        self._entries: OrderedDict[str, Resident] = OrderedDict()
        self._orphans: dict[Any, list[Resident]] = {}  # thread root -> what only it may unwind
        self._lock = threading.Lock()

    def decide(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        history: Sequence[Event],
        info: WorkflowInfo,
        live: LiveSources,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        guarded: bool = True,
    ) -> Decision:
        """What ``replay`` would decide, resuming the run's instance when it fits."""
        if self.capacity <= 0:
            return replay(fn, args, kwargs, history, info, live, max_payload_bytes, guarded)
        self._unwind_orphans()
        call = Call(fn, args, kwargs, info, live, max_payload_bytes, guarded)
        resident, decision = self._resume_or_start(call, history)
        if resident.parked:
            self._keep(info.run_id, resident)
        return decision

    def clear(self) -> None:
        """Drop every instance (unwinding those of this thread now)."""
        with self._lock:
            dropped = list(self._entries.values())
            self._entries.clear()
        for resident in dropped:
            self._dispose(resident)
        self._unwind_orphans()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._entries

    # --- bookkeeping --------------------------------------------------------------------

    def _resume_or_start(self, call: Call, history: Sequence[Event]) -> tuple[Resident, Decision]:
        resident = self._take(call.info.run_id)
        if resident is not None:
            new = resident.fits(call, history)
            if new is not None:
                self._count(resumed=True)
                return resident, resident.resume(new)
            self._dispose(resident)
        self._count(resumed=False)
        return Resident.start(call, history)

    def _take(self, run_id: str) -> Resident | None:
        """Check the run's instance out, so no one else can switch into it meanwhile."""
        with self._lock:
            resident = self._entries.pop(run_id, None)
        if resident is None or resident.at_home():
            return resident
        self._dispose(resident)
        return None

    def _keep(self, run_id: str, resident: Resident) -> None:
        with self._lock:
            displaced = self._entries.pop(run_id, None)  # checked in meanwhile: older
            self._entries[run_id] = resident
            dropped = [displaced] if displaced is not None else []
            while len(self._entries) > self.capacity:
                dropped.append(self._entries.popitem(last=False)[1])
        for old in dropped:
            self._dispose(old)

    def _dispose(self, resident: Resident) -> None:
        """Unwind now on its own thread, else leave it for that thread to unwind."""
        if resident.close() or resident.home_gone():
            return
        with self._lock:
            for home in [h for h, left in self._orphans.items() if left[0].home_gone()]:
                del self._orphans[home]
            self._orphans.setdefault(resident.home, []).append(resident)

    def _unwind_orphans(self) -> None:
        if not self._orphans:
            return
        with self._lock:
            orphans = self._orphans.pop(thread_root(), [])
        for resident in orphans:
            resident.close()

    def _count(self, resumed: bool) -> None:
        with self._lock:
            if resumed:
                self.resumes += 1
            else:
                self.builds += 1
