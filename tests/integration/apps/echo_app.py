"""The smallest real Celery app: lets the harness self-test prove a worker ran a task.

The broker comes from ``CELERY_BROKER_URL``; the task records what it did in table
``echo_log`` of the database at ``CONTINUUM_DATABASE_URL``, which the test creates.
"""

from __future__ import annotations

import os

import psycopg
from celery import Celery

app = Celery("echo_app", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    broker_connection_retry_on_startup=True,
    # The session's broker is shared with other test apps' workers: a queue of
    # its own keeps them from taking (and discarding) each other's tasks.
    task_default_queue="echo",
)


@app.task(name="echo.record")  # type: ignore[untyped-decorator]  # celery is untyped
def record(token: str) -> None:
    """Insert one row; the pid shows which pool process ran it."""
    with psycopg.connect(os.environ["CONTINUUM_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO echo_log (token, pid) VALUES (%s, %s)", (token, os.getpid()))
