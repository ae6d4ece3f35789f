"""The next release of ``replay_shop``'s order workflow: step 2 now puts a hold on
the card instead of charging it. Runs recorded under the old code drift at step 2.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from continuum_celery import Continuum, workflow

app = Celery("replay_shop", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(task_serializer="json", accept_content=["json"], result_backend=None,
                task_default_queue="replay_shop")  # fmt: skip
cx = Continuum(app, database_url=os.environ.get("REPLAY_DATABASE_URL"), worker_upkeep=False)


@cx.activity(name="replay.reserve")
def reserve(order_id: str) -> str:
    return f"reserved {order_id}"


@cx.activity(name="replay.hold")
def hold(order_id: str, amount: int) -> dict[str, Any]:
    return {"order_id": order_id, "held": amount}


@cx.activity(name="replay.ship")
def ship(order_id: str) -> str:
    return f"shipped {order_id}"


@cx.workflow(name="replay.order")
def order(order_id: str, amount: int) -> dict[str, Any]:
    reserve(order_id)
    receipt = hold(order_id, amount)
    workflow.wait_signal("packed")
    return {"receipt": receipt, "shipment": ship(order_id)}
