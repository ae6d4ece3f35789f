"""A decision's activities go out in one batch when the transport takes batches."""

from __future__ import annotations

from collections.abc import Sequence

from continuum_celery.journal.records import TaskMessage
from continuum_celery.runtime.transport import AfterCommit, publish_activities


def messages(n: int) -> list[TaskMessage]:
    return [TaskMessage(f"t{i}", "run", "act", 1, None, None, 5.0) for i in range(n)]


class OneByOne:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        raise AssertionError("no wakeup here")

    def publish_activity(self, message: TaskMessage) -> None:
        self.sent.append(message.task_id)


class Batching(OneByOne):
    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.batches = 0
        self.fail_after = fail_after

    def publish_activities(self, batch: Sequence[TaskMessage]) -> None:
        self.batches += 1
        for position, message in enumerate(batch):
            if position == self.fail_after:
                raise ConnectionError("broker went away")
            self.publish_activity(message)


def test_a_fan_out_goes_out_as_one_batch() -> None:
    transport = Batching()
    publish_activities(AfterCommit(transport), messages(5))
    assert transport.batches == 1 and transport.sent == [f"t{i}" for i in range(5)]


def test_a_transport_without_batches_gets_each_message() -> None:
    transport = OneByOne()
    publish_activities(AfterCommit(transport), messages(3))
    publish_activities(transport, messages(2))
    assert transport.sent == ["t0", "t1", "t2", "t0", "t1"]


def test_a_batch_that_fails_part_way_is_sent_again_one_by_one() -> None:
    """Nothing is left to upkeep's slow resend: at worst a message goes out twice,
    and its second delivery only meets a refused claim."""
    transport = Batching(fail_after=2)
    outbox = AfterCommit(transport)
    publish_activities(outbox, messages(4))
    assert transport.sent == ["t0", "t1", "t0", "t1", "t2", "t3"]
    assert outbox.failures == 0
