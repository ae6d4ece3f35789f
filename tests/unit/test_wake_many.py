"""Waking many runs at once: few messages where the publisher can, and one run's
failure never stops the others."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from continuum_celery.journal.records import TaskMessage
from continuum_celery.runtime.advance import Advancer
from continuum_celery.runtime.transport import AfterCommit, wake_all


class OneByOne:
    def __init__(self) -> None:
        self.advances: list[str] = []

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advances.append(run_id)

    def publish_activity(self, message: TaskMessage) -> None:
        raise AssertionError("not expected")


class Many(OneByOne):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.fail = fail

    def publish_advances(self, run_ids: Sequence[str]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.batches.append(list(run_ids))


def test_a_publisher_that_carries_many_gets_them_in_one_call() -> None:
    many = Many()
    wake_all(many, ["a", "b", "c"])
    assert many.batches == [["a", "b", "c"]] and many.advances == []


def test_one_run_or_a_plain_publisher_gets_one_message_each() -> None:
    many, plain = Many(), OneByOne()
    wake_all(many, ["a"])
    wake_all(plain, ["a", "b"])
    assert many.batches == [] and many.advances == ["a"]
    assert plain.advances == ["a", "b"]


def test_a_failed_batch_is_counted_and_not_raised_after_commit() -> None:
    outbox = AfterCommit(Many(fail=True))
    outbox.publish_advances(["a", "b"])
    assert outbox.failures == 1


def test_advance_many_goes_past_a_run_that_fails_and_runs_nothing_inline() -> None:
    seen: list[tuple[str, bool]] = []

    def advance(run_id: str, inline: bool = True) -> bool:
        seen.append((run_id, inline))
        if run_id == "b":
            raise RuntimeError("database blip")
        return True

    advancer = Advancer.__new__(Advancer)
    advancer.advance = advance  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="database blip"):
        advancer.advance_many(["a", "b", "c"])
    assert seen == [("a", False), ("b", False), ("c", False)]
