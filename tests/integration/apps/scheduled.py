"""Workflows started by schedules, one declared with ``@cx.schedule`` (every second).

Configured from the environment: the database from ``SCHEDULED_DATABASE_URL`` (a
database of the test module's own), the broker from ``CELERY_BROKER_URL``.
Messages ride a queue of their own.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from continuum_celery import Continuum, workflow

app = Celery("scheduled", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="scheduled",
    broker_connection_retry_on_startup=True,
)
cx = Continuum(app, database_url=os.environ.get("SCHEDULED_DATABASE_URL"), upkeep_interval=0.2)


@cx.schedule("@every 1s", args=("tick",), catchup_window=60, overlap="allow_all")
@cx.workflow(name="scheduled.heartbeat")
def heartbeat(label: str) -> dict[str, Any]:
    return {"label": label, "scheduled_time": workflow.info().attributes.get("scheduled_time")}


@cx.workflow(name="scheduled.report")
def report(day: str = "today") -> str:
    return f"report for {day}"


@cx.workflow(name="scheduled.waits")
def waits() -> Any:
    """Stays open until signalled or cancelled: an overlapping run."""
    try:
        return workflow.wait_signal("done")
    except workflow.Cancelled:
        return "cancelled"
