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

Signals reach only the main thread. Elsewhere (a threads or gevent pool) the body
is not interrupted; its claim still lapses at the deadline, upkeep records the
timeout and the next attempt runs elsewhere, so the attempt is abandoned on time
even though its thread runs on.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class AttemptTimeout(BaseException):
    """Raised inside an activity body at its timeout.

    A ``BaseException``, like ``asyncio.CancelledError``, so that an
    ``except Exception`` in the body does not swallow it.
    """


def can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise AttemptTimeout()


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Run the block with ``AttemptTimeout`` raised in it after ``seconds``."""
    if not can_interrupt():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
