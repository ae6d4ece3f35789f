"""An order workflow as released: the runs the replay gate's tests record.

Its database comes from ``REPLAY_DATABASE_URL`` and its tasks ride a queue of their
own, so only the workers a test starts for it take them. ``replay_shop_edited``
is the next release of the same workflow, changed at step 2.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("replay_shop", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="replay_shop",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("REPLAY_DATABASE_URL"),
    upkeep_interval=0.5,
    upkeep=UpkeepSettings(wake_stale_after=0.5, task_stale_after=1.0),
)


@cx.activity(name="replay.reserve")
def reserve(order_id: str) -> str:
    return f"reserved {order_id}"


@cx.activity(name="replay.charge")
def charge(order_id: str, amount: int) -> dict[str, Any]:
    return {"order_id": order_id, "charged": amount}


@cx.activity(name="replay.ship")
def ship(order_id: str) -> str:
    return f"shipped {order_id}"


@cx.workflow(name="replay.order")
def order(order_id: str, amount: int) -> dict[str, Any]:
    reserve(order_id)
    receipt = charge(order_id, amount)
    workflow.wait_signal("packed")
    return {"receipt": receipt, "shipment": ship(order_id)}
