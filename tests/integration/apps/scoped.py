"""One of two Celery apps that share a Continuum database, told apart by scope.

``SCOPED_SCOPE`` picks which (``a`` or ``b``): each has its own Celery name, queue
(``scoped-<scope>``) and ``Continuum(scope=)``, and both register the same workflow
and activity names, so only the scope tells their runs apart. Database and broker
come from ``SCOPED_DATABASE_URL`` and ``SCOPED_BROKER_URL``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

SCOPE = os.environ.get("SCOPED_SCOPE", "a")
QUEUE = f"scoped-{SCOPE}"

app = Celery(f"scoped-{SCOPE}", broker=os.environ.get("SCOPED_BROKER_URL"), set_as_current=False)
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
    database_url=os.environ.get("SCOPED_DATABASE_URL"),
    scope=SCOPE,
    claim_ttl=1.0,
    retention=float(os.environ.get("SCOPED_RETENTION", "4")),
    upkeep=UpkeepSettings(wake_stale_after=1.0, backoff_cap=1.0),
)


@cx.activity()
def step(value: str) -> str:
    return value


@cx.activity(timeout=120)
def hang_once(flag: str) -> str:
    """Hangs the first time (its worker is then killed), returns at once after."""
    path = Path(flag)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(110)
    return "unstuck"


@cx.workflow(name="scoped.nap")
def nap(seconds: float) -> str:
    workflow.sleep(seconds)
    return step(f"rested in {SCOPE}")


@cx.workflow(name="scoped.hang")
def hang(flag: str) -> str:
    return hang_once(flag)
