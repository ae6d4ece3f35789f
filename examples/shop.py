"""An order workflow: the example the demo runs through a real Celery worker.

Run it yourself against your own servers with:

    CONTINUUM_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
    celery -A examples.shop worker -B -l info
"""

from __future__ import annotations

import os
import random

from celery import Celery

from continuum_celery import Continuum, RetryPolicy, workflow

app = Celery("shop", broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(app)  # database from CONTINUUM_DATABASE_URL


@cx.activity()
def reserve_stock(order_id: str, items: list[str]) -> dict[str, object]:
    return {"order": order_id, "reserved": len(items)}


@cx.activity(retry=RetryPolicy(max_attempts=5, backoff="exponential", base=0.2), timeout=10)
def charge(order_id: str, amount: int) -> dict[str, object]:
    if random.random() < 0.5:  # a flaky payment provider: the journal retries it
        raise ConnectionError("payment provider timed out")
    return {"order": order_id, "charged": amount, "receipt": f"r-{order_id}"}


@cx.activity()
def ship(order_id: str) -> str:
    return f"tracking-{order_id}"


@cx.activity()
def email(order_id: str, text: str) -> None:
    print(f"[email] order {order_id}: {text}")


@cx.workflow()
def order_flow(order_id: str, amount: int, items: list[str]) -> dict[str, object]:
    reserve_stock(order_id, items)
    receipt = charge(order_id, amount)
    try:
        verdict = workflow.wait_signal("review", timeout=60)
    except workflow.SignalTimeout:
        verdict = "approved"
    if verdict != "approved":
        return {"status": "rejected", "receipt": receipt}
    workflow.sleep(1.0)  # a durable timer: held in Postgres, not in the broker
    tracking = ship(order_id)
    workflow.logger.info("order %s shipped as %s", order_id, tracking)
    email(order_id, f"shipped: {tracking}")
    return {"status": "shipped", "receipt": receipt, "tracking": tracking}
