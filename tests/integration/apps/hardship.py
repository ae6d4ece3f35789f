"""An app for hard times: broker outages, hung activity bodies, unstorable results.

It has its own queue (``hardship``) and database (``HARDSHIP_DATABASE_URL``), so the
tests can point its worker at a broker behind a proxy they cut, or wedge its pool
processes, without touching the session worker.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from celery import Celery

from continuum_celery import Continuum, RetryPolicy, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("hardship", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="hardship",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("HARDSHIP_DATABASE_URL"),
    inline_budget=60.0,  # a delivery goes on inline however long its first step took
    wakeup_time_limit=15.0,  # a wakeup whose inline body will not stop is ended soon
    upkeep_interval=0.5,
    upkeep=UpkeepSettings(wake_stale_after=0.5, task_stale_after=1.0),
)
ONCE = RetryPolicy(max_attempts=1)


@cx.activity(retry=ONCE)
def gated_step(gate: str) -> str:
    """Returns once the test creates the file ``gate``."""
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    return gate


@cx.activity(retry=ONCE, timeout=3.0)
def leaf(index: int) -> int:
    return index


@cx.activity(retry=ONCE, timeout=2.0)
def hang(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


@cx.activity(retry=ONCE, timeout=1.0)
def stubborn(seconds: float) -> str:
    """Swallows whatever stops it, to show a process that will not stop is ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):  # the point of this activity
            time.sleep(deadline - time.monotonic())
    return "outlived its timeout"


@cx.activity(retry=RetryPolicy(max_attempts=3, base=0.1), timeout=30.0)
def unstorable(text: str) -> dict[str, Any]:
    return {"text": text + "\x00"}


@cx.workflow()
def fan_after_gate(width: int, gate: str) -> list[int]:
    """A step the test holds, then a fan-out: the worker completing the step claims
    one activity for itself and publishes the others."""
    gated_step(gate)
    return workflow.gather(*[leaf.start(i) for i in range(width)])


@cx.workflow()
def hung(seconds: float) -> str:
    return str(hang(seconds))


@cx.workflow()
def hung_hard(seconds: float) -> str:
    return str(stubborn(seconds))


@cx.workflow()
def quick() -> int:
    return int(leaf(7))


@cx.workflow()
def returns_unstorable(text: str) -> dict[str, Any]:
    return dict(unstorable(text))


@cx.workflow()
def leaf_and_signal() -> list[Any]:
    """One decision schedules an activity and consumes a buffered signal, so the
    wakeup commits, then replays once more in the same delivery."""
    handle = leaf.start(3)
    got = workflow.wait_signal("go")
    return [handle.result(), got]
