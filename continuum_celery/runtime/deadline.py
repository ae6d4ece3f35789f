"""Stop an activity attempt at its own timeout, wherever it runs.

An attempt that arrives as its own Celery task has Celery's time limits, but those
belong to the delivery: an activity run inline after another one, or by a replay
wakeup, would otherwise run as long as its body likes, and a hung body would hold
the pool process (and everything queued behind it) hostage.

So each body runs under a deadline of its own: at the timeout, ``SIGALRM`` raises
:class:`AttemptTimeout` inside the body, the way Celery's soft time limit does,
but per attempt. It costs two system calls per body.

A body that will not stop (one that swallows the exception, or is stuck in C code
that never returns to Python) is ended with its whole process by the delivery's
Celery hard time limit, which every delivery that runs bodies has: an activity's
own task, and the wakeup (``Continuum(wakeup_time_limit=)``). Bodies are taken on
inline only while their timeout fits inside it.

Signals reach only the main thread. Elsewhere (a threads, gevent or eventlet pool) the body
is not interrupted; its claim still lapses at the deadline, upkeep records the
timeout and the next attempt runs elsewhere, so the attempt is abandoned on time
even though its thread runs on.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class AttemptTimeout(BaseException):
    """Raised inside an activity body at its timeout.

    A ``BaseException``, like ``asyncio.CancelledError``, so that an
    ``except Exception`` in the body does not swallow it.
    """


def can_interrupt() -> bool:
    """Only a body alone on the main thread may own the process's one real-time timer."""
    if not hasattr(signal, "setitimer") or _cooperative():
        return False
    return threading.current_thread() is threading.main_thread()


def _cooperative() -> bool:
    """gevent and eventlet run many bodies on the main thread at once: no timer there."""
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("threading"):
        return True
    eventlet = sys.modules.get("eventlet.patcher")
    return eventlet is not None and bool(eventlet.is_monkey_patched("thread"))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise AttemptTimeout()


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Run the block with ``AttemptTimeout`` raised in it after ``seconds``.

    A timer someone else armed (a test runner's, say) is left in charge if it fires
    first, and otherwise put back, with what is left of it, afterwards.
    """
    if not can_interrupt():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _interrupt)
    outer = signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    if 0 < outer[0] <= seconds:
        _restore(previous, outer, 0.0)
        yield
        return
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _restore(previous, outer, time.monotonic() - started)


def _restore(handler: Any, timer: tuple[float, float], elapsed: float) -> None:
    signal.signal(signal.SIGALRM, signal.SIG_DFL if handler is None else handler)
    remaining, interval = timer
    if remaining > 0:
        signal.setitimer(signal.ITIMER_REAL, max(remaining - elapsed, 0.001), interval)
