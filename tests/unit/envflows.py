"""Workflows and activities the environment tests run; one app per test (``make``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from continuum_celery import Continuum, RetryPolicy, workflow
from continuum_celery.errors import NonRetryableError


@dataclass
class Shop:
    """An app with its workflows, and what its activities did (per test, no globals)."""

    cx: Continuum
    calls: list[Any] = field(default_factory=list)
    flaky: dict[str, int] = field(default_factory=dict)
    drift: dict[str, bool] = field(default_factory=lambda: {"new_code": False})
    flows: dict[str, Any] = field(default_factory=dict)


def make() -> Shop:
    app = Celery("shop", set_as_current=False)
    cx = Continuum(app, "postgresql://127.0.0.1:1/none", worker_upkeep=False)
    shop = Shop(cx)
    _activities(shop)
    _workflows(shop)
    return shop


def _activities(shop: Shop) -> None:
    cx = shop.cx

    @cx.activity(name="shop.charge", retry=RetryPolicy(max_attempts=6, base=60, max_backoff=3600))
    def charge(order_id: str, amount: int) -> dict[str, Any]:
        shop.calls.append(("charge", order_id, amount))
        left = shop.flaky.get(order_id, 0)
        if left:
            shop.flaky[order_id] = left - 1
            raise ConnectionError("gateway down")
        if amount < 0:
            raise NonRetryableError("negative amount")
        return {"order": order_id, "charged": amount}

    @cx.activity(name="shop.refund")
    def refund(order_id: str) -> str:
        shop.calls.append(("refund", order_id))
        return f"refunded {order_id}"

    @cx.activity(name="shop.ship", retry=RetryPolicy(max_attempts=1))
    def ship(order_id: str) -> str:
        shop.calls.append(("ship", order_id))
        raise RuntimeError("no courier")

    shop.flows.update(charge=charge, refund=refund, ship=ship)


def _workflows(shop: Shop) -> None:
    cx, f = shop.cx, shop.flows

    @cx.workflow()
    def order(order_id: str, amount: int) -> dict[str, Any]:
        receipt = f["charge"](order_id, amount)
        try:
            verdict = workflow.wait_signal("review", timeout=3600)
        except workflow.SignalTimeout:
            verdict = "auto-approved"
        return {"verdict": verdict, "receipt": receipt}

    @cx.workflow()
    def month(days: int) -> str:
        started = workflow.now()
        workflow.sleep(days * 86400)
        return str(workflow.now() - started)

    @cx.workflow()
    def cleanup(order_id: str) -> str:
        try:
            workflow.wait_signal("never")
        except workflow.Cancelled:
            f["refund"](order_id)  # cleanup still runs activities
            raise
        return "unreachable"

    @cx.workflow()
    def parent(order_ids: list[str]) -> list[Any]:
        children = [workflow.start_child(order, oid, 5) for oid in order_ids]
        return [child.result() for child in children]

    @cx.workflow()
    def counter(n: int, total: int) -> int:
        if n == 0:
            return total
        extra = workflow.wait_signal("add", timeout=60) if n == 2 else 0
        workflow.continue_as_new(n - 1, total + n + (extra or 0))

    @cx.workflow()
    def saga(order_id: str) -> list[Any]:
        f["charge"].options(compensate=f["refund"].bind(order_id))(order_id, 10)
        try:
            f["ship"](order_id)
        except workflow.ActivityFailed:
            return [[o.activity, o.ok, o.result] for o in workflow.compensate_all()]
        return []

    @cx.workflow(guard=False)
    def drifting(order_id: str) -> str:
        if shop.drift["new_code"]:
            f["refund"](order_id)  # an edit that reorders what ran before the wait
        f["charge"](order_id, 1)
        workflow.wait_signal("go")
        return "done"

    @cx.workflow()
    def keyed(order_id: str, amount: int) -> Any:
        return f["charge"].options(idempotency_key=f"charge-{order_id}")(order_id, amount)

    @cx.workflow()
    def clock_reader() -> float:
        import time

        return time.time()

    shop.flows.update(order=order, month=month, cleanup=cleanup, parent=parent,
                      counter=counter, saga=saga, drifting=drifting,
                      clock_reader=clock_reader, keyed=keyed)  # fmt: skip
