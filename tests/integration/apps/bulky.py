"""An app for bulk job tests: its own queue (``bulky``) and database
(``BULKY_DATABASE_URL``), so its workers can be killed mid-job without touching the
session worker. ``BULKY_BATCH`` sets how many job items one upkeep sweep carries
out, small enough that a test can watch a job in progress.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

from continuum_celery import Continuum, NonRetryableError, RetryPolicy, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("bulky", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="bulky",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("BULKY_DATABASE_URL"),
    upkeep_interval=0.3,
    upkeep=UpkeepSettings(
        wake_stale_after=0.5,
        task_stale_after=1.0,
        leader_ttl=1.5,
        bulk_batch=int(os.environ.get("BULKY_BATCH", "100")),
    ),
)


@cx.workflow()
def waits(tag: str) -> object:
    """Parks until signalled "go" (or cancelled); returns the payload."""
    return workflow.wait_signal("go", timeout=600)


@cx.activity(retry=RetryPolicy(max_attempts=1))
def needs_fix(flag: str) -> str:
    """Fails for good until the file ``flag`` exists: a bug, then its fix."""
    if not Path(flag).exists():
        raise NonRetryableError(f"{flag} is missing")
    return "fixed"


@cx.workflow()
def broken(flag: str) -> str:
    return needs_fix(flag)
