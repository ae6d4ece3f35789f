"""Which delivered attempts hold their claim in the settling transaction."""

from __future__ import annotations

from typing import Any

import pytest

from continuum_celery.definitions import Activity, ActivityOptions, Registry
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.runtime.perform import Performer

pytestmark = pytest.mark.unit


class _Refusing:
    """A task store that refuses every claim, saying how it was asked."""

    claim_ttl = 7.0

    def __init__(self) -> None:
        self.asked: list[str] = []

    def hold(self, *_: Any) -> str:
        self.asked.append("hold")
        return "refused"

    def claim(self, *_: Any) -> str:
        self.asked.append("claim")
        return "refused"


def _performer(tasks: _Refusing) -> Performer:
    registry = Registry()
    options = ActivityOptions(RetryPolicy(), 60.0, None, None, None)
    registry.add_activity(Activity(lambda: None, "a.step", options, 1024))
    return Performer(tasks, registry, publisher=None)  # type: ignore[arg-type]


def test_only_an_activity_quick_here_is_held_and_never_a_redelivery() -> None:
    tasks = _Refusing()
    performer = _performer(tasks)
    performer.perform("t", 1, "a.step")  # never ran here: its claim is committed
    performer.quick["a.step"] = True
    performer.perform("t", 1, "a.step")  # quick so far: held
    performer.perform("t", 1, "a.step", None, True)  # redelivered: committed
    performer.quick["a.step"] = False
    performer.perform("t", 1, "a.step")  # its last body was slow: committed
    performer.hold_claims, performer.quick["a.step"] = False, True
    performer.perform("t", 1, "a.step")  # hold_claims=False: committed
    assert tasks.asked == ["claim", "hold", "claim", "claim", "claim"]
