"""Virtual time for the test environment: a clock that only moves when told to,
and a timeline of what becomes due at which instant.

Nothing here reads the wall clock, so a 30-day sleep costs what one timer costs.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
"""Where an environment's clock starts unless told otherwise."""


class VirtualClock:
    """The environment's "now"; also the engine's live sources, seeded per environment.

    ``uuid4`` and ``random`` come from a generator of the environment's own, so
    two environments (or two xdist workers) never share state.
    """

    def __init__(self, start: datetime = EPOCH, seed: int = 0) -> None:
        if start.tzinfo is None:
            raise ValueError("the environment's start time must be timezone-aware")
        self.current = start
        self.rng = random.Random(seed)

    def now(self) -> datetime:
        return self.current

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def random(self) -> float:
        return self.rng.random()

    def after(self, seconds: float) -> datetime:
        return self.current + timedelta(seconds=seconds)

    def move_to(self, instant: datetime) -> None:
        """Time never runs backwards: an instant already past leaves the clock alone."""
        self.current = max(self.current, instant)


@dataclass(order=True)
class _Due:
    at: datetime
    order: int
    fire: Callable[[], None] = field(compare=False)
    background: bool = field(compare=False, default=False)


class Timeline:
    """Things due at an instant (timers, signal timeouts, retries, schedule ticks),
    earliest first; ties in the order they were scheduled.

    Schedule ticks are ``background``: they recur for ever, so a run's drive
    skips to them only while something of the runs' own is still due.
    """

    def __init__(self) -> None:
        self._heap: list[_Due] = []
        self._order = itertools.count()
        self._foreground = 0

    def add(self, at: datetime, fire: Callable[[], None], background: bool = False) -> None:
        heapq.heappush(self._heap, _Due(at, next(self._order), fire, background))
        self._foreground += not background

    def busy(self) -> bool:
        """Whether anything but schedule ticks is still due."""
        return self._foreground > 0

    def next_at(self) -> datetime | None:
        return self._heap[0].at if self._heap else None

    def pop_due(self, now: datetime) -> Callable[[], None] | None:
        if self._heap and self._heap[0].at <= now:
            due = heapq.heappop(self._heap)
            self._foreground -= not due.background
            return due.fire
        return None
