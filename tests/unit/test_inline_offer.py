"""Which next activity a worker takes on inline, and how Celery routing decides it.

Running an activity inline skips the broker, so the offer must refuse anything the
broker would have sent elsewhere or that could outlive the delivery's time limit.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from continuum_celery.celery_app.tasks import CeleryPublisher, redelivered, soft_limit
from continuum_celery.definitions import Activity, ActivityOptions, Registry
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.journal.records import ClaimedTask, InlineOffer, TaskMessage
from continuum_celery.runtime.perform import MAX_INLINE_STEPS, Performer

pytestmark = pytest.mark.unit


class _Tasks:
    claim_ttl = 7.0


def _registry(*names: str) -> Registry:
    registry = Registry()
    for name in names:
        options = ActivityOptions(RetryPolicy(), 60.0, None, None, None)
        registry.add_activity(Activity(lambda: None, name, options, 1024))
    return registry


def _routes(table: dict[tuple[str, str | None], str]) -> Any:
    return lambda activity, queue: table.get((activity, queue), queue or "default")


def _claim(activity: str = "a.first", timeout: float = 60.0, queue: str | None = None) -> Any:
    return ClaimedTask("t", "r", "activity:a:0", activity, 1, 1, [], {}, timeout, queue=queue)


def _message(activity: str = "a.next", timeout: float = 60.0, queue: str | None = None) -> Any:
    return TaskMessage("t2", "r", activity, 1, queue, None, timeout)


def _offer(
    budget: float = 1.0,
    time_limit: float | None = 61.0,
    routes: Any = None,
    eager: bool = True,
    first: Any = None,
) -> InlineOffer | None:
    performer = Performer(
        _Tasks(),  # type: ignore[arg-type]
        _registry("a.first", "a.next"),
        publisher=None,  # type: ignore[arg-type]
        decide=(lambda lease: None) if eager else None,
        router=routes or _routes({}),
        inline_budget=budget,
    )
    first = first or _claim()
    return performer.inline_offer(performer.router(first.activity, first.queue), time_limit)  # type: ignore[misc]


def test_same_queue_known_code_and_time_left_is_taken() -> None:
    offer = _offer()
    assert offer is not None
    assert offer.claim_ttl == 7.0
    assert offer.wants(_message())


def test_activity_routed_to_another_queue_is_published() -> None:
    routes = _routes({("a.next", None): "gpu"})
    offer = _offer(routes=routes)
    assert offer is not None
    assert not offer.wants(_message())
    assert not offer.wants(_message(queue="other"))
    assert _offer(routes=routes, first=_claim(queue="gpu")).wants(_message())  # type: ignore[union-attr]


def test_activity_whose_code_is_not_here_is_published() -> None:
    offer = _offer()
    assert offer is not None
    assert not offer.wants(_message(activity="a.unknown"))


def test_timeout_that_does_not_fit_the_delivery_time_limit_is_published() -> None:
    offer = _offer(time_limit=61.0)
    assert offer is not None
    assert not offer.wants(_message(timeout=62.0))
    assert offer.wants(_message(timeout=60.0))


def test_without_a_transport_time_limit_only_the_budget_counts() -> None:
    offer = _offer(time_limit=None)
    assert offer is not None
    assert offer.wants(_message(timeout=10_000.0))


def test_spent_budget_stops_taking(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("continuum_celery.runtime.perform.time.monotonic", lambda: clock[0])
    offer = _offer(budget=0.5, time_limit=None)
    assert offer is not None
    assert offer.wants(_message())
    clock[0] += 0.6
    assert not offer.wants(_message())


def test_step_cap_stops_taking() -> None:
    offer = _offer(budget=3600.0, time_limit=None)
    assert offer is not None
    assert all(offer.wants(_message()) for _ in range(MAX_INLINE_STEPS))
    assert not offer.wants(_message())


def test_no_offer_when_disabled_or_not_eager() -> None:
    assert _offer(budget=0.0) is None
    assert _offer(eager=False) is None


def test_celery_routing_decides_the_queue() -> None:
    app = Celery("routes", broker="memory://", set_as_current=False)
    app.conf.task_default_queue = "work"
    app.conf.task_routes = {"shop.render": {"queue": "gpu"}}
    publisher = CeleryPublisher(app, inline_budget=1.0)
    assert publisher.queue_of("shop.charge", None) == "work"
    assert publisher.queue_of("shop.render", None) == "gpu"
    assert publisher.queue_of("shop.charge", "emails") == "emails"


@pytest.mark.parametrize(
    ("timelimit", "expected"),
    [((310.0, 301.0), 301.0), ((None, None), None), (None, None), ((10, 0), None)],
)
def test_soft_limit_read_from_the_celery_request(timelimit: Any, expected: Any) -> None:
    class Request:
        pass

    request = Request()
    request.timelimit = timelimit  # type: ignore[attr-defined]
    assert soft_limit(request) == expected


@pytest.mark.parametrize(
    ("delivery_info", "expected"),
    [({"redelivered": True}, True), ({"redelivered": False}, False), ({}, False),
     (None, False), ("garbled", False)],
)  # fmt: skip
def test_a_redelivery_is_read_from_the_celery_request(delivery_info: Any, expected: bool) -> None:
    """Kombu marks a message Redis restored (after its worker died, or past the
    visibility timeout) and RabbitMQ marks a requeued one; either is claimed durably."""

    class Request:
        pass

    request = Request()
    request.delivery_info = delivery_info  # type: ignore[attr-defined]
    assert redelivered(request) is expected
