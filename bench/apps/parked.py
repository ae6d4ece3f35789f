"""Parked runs: workflows that start, wait, and hold nothing in a worker while they wait.

Used by ``python -m bench.run --parked N``. Configured like ``bench.apps.durable``
(``CONTINUUM_DATABASE_URL``, ``CELERY_BROKER_URL``, continuum's defaults, upkeep every
1 s from the ``-B`` worker), on a queue of its own.

- ``await_signal(i)`` waits for the signal ``go`` and returns its payload;
- ``long_timer(seconds)`` sleeps durably (the bench uses an hour, so the timer never
  fires while it runs) and returns ``seconds``.

Neither calls an activity: starting one is a start transaction plus one replay that
parks it (the wait is journaled and the lease released); nothing else happens until
the signal arrives or the timer fires.
"""

from __future__ import annotations

from typing import Any

from bench.apps.common import make_app
from continuum_celery import Continuum, workflow

QUEUE = "bench-parked"
SIGNAL = "go"

app = make_app("bench_parked", queue=QUEUE)
cx = Continuum(app)


@cx.workflow(name="bench.parked.await_signal")
def await_signal(i: int) -> Any:
    return workflow.wait_signal(SIGNAL)


@cx.workflow(name="bench.parked.long_timer")
def long_timer(seconds: float) -> float:
    workflow.sleep(seconds)
    return seconds
