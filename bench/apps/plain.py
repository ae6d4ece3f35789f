"""The baseline: plain Celery tasks chained with ``chain(...)`` of immutable signatures.

A chain of S steps is S-1 ``bench.plain.step`` tasks followed by one
``bench.plain.last_step``, which runs the same step body and then records the chain's
completion time in Redis (``ZADD bench:done <unix time> <chain id>``, in the broker's
own db number). ZADD is not a publish, so it does not show up in the LPUSH count, and
no result backend is involved.
"""

from __future__ import annotations

import os
import time

import redis
from celery import chain

from bench.apps.common import broker_url, make_app
from bench.apps.common import step as step_body

DONE_KEY = "bench:done"

app = make_app("bench_plain", queue="bench-plain")

_redis: redis.Redis | None = None
_redis_pid = 0


def _client() -> redis.Redis:
    """One connection per (forked) process."""
    global _redis, _redis_pid
    if _redis is None or _redis_pid != os.getpid():
        _redis, _redis_pid = redis.Redis.from_url(broker_url()), os.getpid()
    return _redis


@app.task(name="bench.plain.step", shared=False)  # type: ignore[untyped-decorator]
def step(i: int) -> int:
    return step_body(i)


@app.task(name="bench.plain.last_step", shared=False)  # type: ignore[untyped-decorator]
def last_step(i: int, chain_id: str) -> int:
    result = step_body(i)
    _client().zadd(DONE_KEY, {chain_id: time.time()})
    return result


def make_chain(chain_id: str, steps: int) -> chain:
    """S immutable signatures; the last one records completion."""
    sigs = [step.si(i) for i in range(steps - 1)]
    sigs.append(last_step.si(steps - 1, chain_id))
    return chain(*sigs)
