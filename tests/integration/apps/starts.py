"""Workflows whose starts the tests watch before any worker runs them.

Configured from the environment: the database from ``STARTS_DATABASE_URL`` (the
test module's own), the broker from ``CELERY_BROKER_URL``. Messages ride a queue of
their own, ``starts``, which no worker consumes until a test starts one.
"""

from __future__ import annotations

import os
import time

from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

QUEUE = "starts"

app = Celery("starts", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("STARTS_DATABASE_URL"),
    claim_ttl=1.0,
    upkeep_interval=0.2,
    upkeep=UpkeepSettings(wake_stale_after=0.5, task_stale_after=0.3),
)


@cx.activity(name="starts.double")
def double(n: int) -> int:
    return 2 * n


@cx.activity(name="starts.nap", timeout=30.0)
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@cx.workflow(name="starts.one_step")
def one_step(n: int) -> int:
    return double(n)


@cx.workflow(name="starts.napping")
def napping(seconds: float) -> float:
    return nap(seconds)


@cx.workflow(name="starts.no_activity")
def no_activity(n: int) -> int:
    return n + 1


@cx.workflow(name="starts.timer")
def timer(seconds: float) -> float:
    workflow.sleep(seconds)
    return seconds


@cx.workflow(name="starts.clocked")
def clocked() -> float:
    return time.time()  # refused by the determinism guard


@cx.workflow(name="starts.parent")
def parent(n: int) -> int:
    return int(workflow.start_child(one_step, n).result()) + 1


@cx.workflow(name="starts.hops")
def hops(n: int) -> str:
    if n > 0:
        workflow.continue_as_new(n - 1)
    return "landed"


@cx.workflow(name="starts.fails")
def fails(why: str) -> None:
    raise ValueError(why)
