"""The app that ``scripts/soak.py`` runs under fire: a few workflow shapes, one activity.

Configured from the environment like a deployment: ``CONTINUUM_DATABASE_URL``,
``CELERY_BROKER_URL``, and ``SOAK_STATE_DIR``, where every activity body execution
appends one line, so the soak can compare body executions with journal completions
across worker processes that get killed.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from celery import Celery

from continuum_celery import Continuum, RetryPolicy, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("soak_app", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # A killed worker's unacked messages come back after this long (as duplicates,
    # if upkeep already re-published them): the journal must absorb both.
    broker_transport_options={"visibility_timeout": 30},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)
cx = Continuum(
    app,
    lease_ttl=10.0,
    upkeep_interval=1.0,
    upkeep=UpkeepSettings(wake_stale_after=1.0, task_stale_after=3.0),
)

STATE_DIR = os.environ.get("SOAK_STATE_DIR", "/tmp/cx-soak")
BODIES = "bodies.log"


def record_body(key: str) -> None:
    """One line per execution; O_APPEND keeps concurrent writers' lines whole."""
    fd = os.open(os.path.join(STATE_DIR, BODIES), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{key}\n".encode())
    finally:
        os.close(fd)


# The decorator is what makes ``step`` an Activity (retried by the journal).
@cx.activity(timeout=5.0, retry=RetryPolicy(max_attempts=20, backoff="constant", base=0.2))
def step(tag: str, index: int, value: Any) -> Any:
    """Returns ``value``; sleeps a little so that kills land mid-body."""
    record_body(f"{tag}:{index}")
    time.sleep(random.uniform(0.0, 0.05))
    return value


@cx.workflow(name="soak.chained")
def chained(tag: str, length: int) -> int:
    total = 0
    for i in range(length):
        total = step(tag, i, total + i)
    return total


@cx.workflow(name="soak.parallel")
def parallel(tag: str, width: int) -> int:
    return sum(workflow.gather(*[step.start(tag, i, i) for i in range(width)]))


@cx.workflow(name="soak.timer")
def timer(tag: str, seconds: float) -> int:
    first: int = step(tag, 0, 1)
    workflow.sleep(seconds)
    second: int = step(tag, 1, 2)
    return first + second


@cx.workflow(name="soak.signal")
def signal(tag: str) -> Any:
    payload = workflow.wait_signal("go")
    return step(tag, 0, payload)


@cx.workflow(name="soak.mixed")
def mixed(tag: str, width: int) -> list[Any]:
    first = step(tag, 0, "a")
    workflow.sleep(0.5)
    fan = workflow.gather(*[step.start(tag, 1 + i, i) for i in range(width)])
    payload = workflow.wait_signal("go")
    return [first, fan, payload]
