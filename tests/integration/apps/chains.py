"""Continue-as-new chains that hop while the outside world signals and cancels them.

Configured from the environment: the database from ``CHAINS_DATABASE_URL`` (a
database of the test module's own, so no other worker's upkeep sees these runs),
the broker from ``CELERY_BROKER_URL``. Messages ride a queue of their own.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("chains", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="chains",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("CHAINS_DATABASE_URL"),
    claim_ttl=1.0,
    upkeep_interval=0.2,
    upkeep=UpkeepSettings(wake_stale_after=0.5, task_stale_after=0.3),
)


@cx.activity(name="chains.slow", timeout=30.0)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@cx.workflow(name="chains.tally")
def tally(left: int, received: list[Any]) -> list[Any]:
    """Consumes exactly one signal per generation, so most signals land mid-hop."""
    received = [*received, workflow.wait_signal("tick")]
    if left == 1:
        return received
    workflow.continue_as_new(left - 1, received)


@cx.workflow(name="chains.hopper")
def hopper(generation: int, limit: int) -> int:
    """Hops as fast as the workers can replay: every generation only continues."""
    if generation >= limit:
        return generation
    workflow.continue_as_new(generation + 1, limit)


@cx.workflow(name="chains.leave_behind")
def leave_behind(generation: int) -> int:
    """Continues with one activity still running and one never even claimed."""
    if generation > 0:
        return generation
    slow.start(2.0)
    workflow.wait_signal("go")
    slow.start(2.0)
    workflow.continue_as_new(generation + 1)
