"""Keeps leases and claims alive while their holder is working.

One daemon thread per process renews every registered holding a few times per
TTL. A process that dies, or is frozen with SIGSTOP, stops renewing with it, so its
holdings expire and another worker can take over; that is the whole point of
renewing from inside the working process rather than trusting a timeout alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("continuum_celery.keeper")

Renew = Callable[[], bool]
"""Renews one holding; returns False once it is lost (then renewal stops)."""


@dataclass
class _Holding:
    renew: Renew
    interval: float
    due: float


class Keeper:
    def __init__(self) -> None:
        self._holdings: dict[int, _Holding] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0
        self._next_id = 0
        self._next_wake = 0.0

    def hold(self, renew: Renew, ttl: float) -> int:
        """Start renewing every ``ttl / 3`` seconds; returns a ticket for ``drop``."""
        interval = max(ttl / 3.0, 0.05)
        with self._lock:
            self._ensure_thread()
            self._next_id += 1
            ticket = self._next_id
            due = time.monotonic() + interval
            self._holdings[ticket] = _Holding(renew, interval, due)
            sooner = due < self._next_wake
        if sooner:  # the thread sleeps past this one's first renewal: wake it
            self._wake.set()
        return ticket

    def drop(self, ticket: int) -> None:
        with self._lock:
            self._holdings.pop(ticket, None)

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # a forked pool child starts its own thread
            self._pid = os.getpid()
            self._holdings.clear()
            threading.Thread(target=self._loop, name="continuum-keeper", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._sleep_time())
            self._wake.clear()
            for ticket, holding in self._due():
                self._renew(ticket, holding)

    def _sleep_time(self) -> float:
        with self._lock:
            dues = [h.due for h in self._holdings.values()]
            now = time.monotonic()
            self._next_wake = min(dues) if dues else now + 60.0
            return max(0.0, self._next_wake - now)

    def _due(self) -> list[tuple[int, _Holding]]:
        now = time.monotonic()
        with self._lock:
            return [(t, h) for t, h in self._holdings.items() if h.due <= now]

    def _renew(self, ticket: int, holding: _Holding) -> None:
        try:
            alive = holding.renew()
        except Exception:  # a database blip: try again at the next interval
            log.warning("renewal failed; retrying", exc_info=True)
            alive = True
        with self._lock:
            if not alive:
                self._holdings.pop(ticket, None)
            elif ticket in self._holdings:
                holding.due = time.monotonic() + holding.interval


KEEPER = Keeper()
