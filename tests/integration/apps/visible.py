"""An app watched the way Celery users watch theirs: Flower, ``task_failure``, logs.

It has its own queue (``visible``), database (``VISIBLE_DATABASE_URL``) and broker
(``VISIBLE_BROKER_URL``), so a test can run Flower on its events, point its
workers at a database that is unmigrated or unreachable, or kill its upkeep
leader, without touching the session worker. Every ``task_failure`` the worker
fires is appended, one JSON line each, to ``$VISIBLE_STATE_DIR/failures``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import task_failure

from continuum_celery import Continuum, RetryPolicy, workflow

app = Celery("visible", broker=os.environ.get("VISIBLE_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="visible",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(app, database_url=os.environ.get("VISIBLE_DATABASE_URL"))
STATE_DIR = Path(os.environ.get("VISIBLE_STATE_DIR", "/tmp/cx-visible-state"))


@task_failure.connect(weak=False)
def record_failure(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **_: Any
) -> None:
    if getattr(sender, "app", None) is not app:
        return
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    line = {"task_id": task_id, "name": sender.name,
            "error": f"{type(exception).__name__}: {exception}"}  # fmt: skip
    with (STATE_DIR / "failures").open("a") as handle:
        handle.write(json.dumps(line) + "\n")


def executions(key: str) -> int:
    """Count one execution of a body under ``key``; returns how many ran before."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    path = STATE_DIR / f"calls-{key}"
    before = len(path.read_text().splitlines()) if path.exists() else 0
    with path.open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    return before


@cx.activity()
def step(value: int) -> int:
    return value


@cx.activity(retry=RetryPolicy(max_attempts=3, backoff="constant", base=0.2))
def flaky(key: str) -> str:
    """Fails its first two executions."""
    before = executions(key)
    if before < 2:
        raise ConnectionError(f"flaky failure {before + 1}")
    return "ok"


@cx.workflow()
def mixed(key: str) -> list[Any]:
    """Inline steps, an attempt that fails inline, one that fails as a message, and
    one that succeeds as a message (retries are published), then inline again."""
    return [step(1), step(2), flaky(key), step(3)]


@cx.workflow()
def single() -> int:
    return step(0)


@cx.workflow()
def napper(seconds: float) -> str:
    workflow.sleep(seconds)
    return "rested"
