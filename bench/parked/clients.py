"""The client side of the parked bench: starting and signalling runs from threads.

Clients are paced by the broker backlog (``--parked-window``) so that runs never wait
in the queue long enough for upkeep to re-publish their wakeups.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import redis
import sqlalchemy.exc

from bench.environment import log
from continuum_celery.errors import RunFinished

TIMER_SECONDS = 3600.0


class Clients:
    """Start and signal runs of the parked app; remembers the run ids it started."""

    def __init__(self, mod: ModuleType, broker_url: str, window: int, threads: int) -> None:
        self.mod = mod
        self.cx = mod.cx
        self.redis = redis.Redis.from_url(broker_url)
        self.window = window
        self.threads = max(1, threads)
        self.signal_ids: list[str] = []
        self.timer_ids: list[str] = []
        self._ids_lock = threading.Lock()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.redis.close()

    def backlog(self) -> int:
        """Messages waiting in the app's queue (kombu's Redis transport: one list)."""
        return int(self.redis.llen(self.mod.QUEUE))

    def _gate(self) -> float:
        """Wait while the broker backlog is above the window; seconds waited."""
        if not self.window:
            return 0.0
        waited = 0.0
        while self.backlog() > self.window:
            time.sleep(0.01)
            waited += 0.01
        return waited

    def start(self, i: int, timer: bool) -> None:
        run_id = str(uuid.uuid4())
        for attempt in range(60):
            try:
                if timer:
                    self.mod.long_timer.apply_async([TIMER_SECONDS], run_id=run_id)
                else:
                    self.mod.await_signal.apply_async([i], run_id=run_id)
                break
            except sqlalchemy.exc.OperationalError as error:
                if attempt == 0:
                    log(f"parked: start failed ({type(error).__name__}); retrying")
                time.sleep(0.5)
        else:
            raise RuntimeError("parked: could not start a run for 30 s")
        with self._ids_lock:
            (self.timer_ids if timer else self.signal_ids).append(run_id)

    def signal(self, run_id: str) -> None:
        for attempt in range(60):
            try:
                self.cx.signal(run_id, self.mod.SIGNAL, "go")
                return
            except RunFinished:
                return  # a retried signal whose first try had landed
            except sqlalchemy.exc.OperationalError as error:
                if attempt == 0:
                    log(f"parked: signal failed ({type(error).__name__}); retrying")
                time.sleep(0.5)
        raise RuntimeError("parked: could not signal a run for 30 s")

    def in_threads(self, items: list[Any], work: Callable[[Any], None]) -> float:
        """Run ``work`` over ``items`` in the client threads, paced; seconds gated."""
        source = iter(items)
        lock = threading.Lock()

        def loop() -> float:
            gated = 0.0
            for n in itertools.count():
                with lock:
                    item = next(source, None)
                if item is None:
                    return gated
                if n % 10 == 0:
                    gated += self._gate()
                work(item)
            return gated

        with ThreadPoolExecutor(self.threads) as pool:
            futures = [pool.submit(loop) for _ in range(self.threads)]
            return sum(f.result() for f in futures)
