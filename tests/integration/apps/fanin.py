"""An app for fan-in: one run gathering many activities, on workers a test may kill.

It has its own queue (``fanin``) and database (``FANIN_DATABASE_URL``), so a test can
count every write to its runs and kill its workers without touching the session
worker. Claims are short, so the attempts of a killed worker are retried soon.
"""

from __future__ import annotations

import os
import time

from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("fanin", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="fanin",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("FANIN_DATABASE_URL"),
    claim_ttl=2.0,
    upkeep_interval=0.5,
    upkeep=UpkeepSettings(wake_stale_after=1.0, task_stale_after=2.0),
)


@cx.activity()
def nap(index: int, pause: float) -> int:
    time.sleep(pause)
    return index


@cx.workflow()
def gather_naps(width: int, pause: float) -> list[int]:
    return workflow.gather(*[nap.start(i, pause) for i in range(width)])
