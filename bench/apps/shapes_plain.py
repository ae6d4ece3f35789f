"""The plain Celery peers of the workloads mode, with a Redis result backend.

Same settings as ``bench.apps.plain`` (``bench/apps/common.py``), plus a Redis result
backend in the broker's db, which a chord and ``.delay().get()`` need. ``step``
ignores its result (chains); ``result_step`` stores it (chord header, ``.get()``).
Completion times go to Redis sorted sets (``ZADD``), not through the backend:

- ``done(results, key, member)``: a chain's or chord's last task;
- ``result_step(i, mark)``: with ``mark``, records when it started (``SET``);
- ``late(eta, key, member)``: a countdown task records how late it ran.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from bench.apps.common import broker_url, make_app
from bench.apps.common import step as step_body

QUEUE = "bench-shapes-plain"

app = make_app("bench_shapes_plain", queue=QUEUE)
app.conf.update(result_backend=broker_url(), result_expires=3600)

_redis: list[Any] = [None, 0]


def client() -> redis.Redis:
    """One connection per (forked) process."""
    if _redis[0] is None or _redis[1] != os.getpid():
        _redis[:] = [redis.Redis.from_url(broker_url()), os.getpid()]
    return _redis[0]  # type: ignore[no-any-return]


@app.task(name="bench.shapes_plain.step", shared=False)  # type: ignore[untyped-decorator]
def step(i: int) -> int:
    return step_body(i)


@app.task(name="bench.shapes_plain.result_step", shared=False, ignore_result=False)  # type: ignore[untyped-decorator]
def result_step(i: int, mark: str | None = None) -> int:
    """``mark``: record when this task started (a chord's first header task)."""
    if mark:
        client().set(mark, time.time())
    return step_body(i)


@app.task(name="bench.shapes_plain.done", shared=False)  # type: ignore[untyped-decorator]
def done(results: Any, key: str, member: str) -> None:
    client().zadd(key, {member: time.time()})


@app.task(name="bench.shapes_plain.late", shared=False)  # type: ignore[untyped-decorator]
def late(eta: float, key: str, member: str) -> None:
    client().zadd(key, {member: time.time() - eta})
