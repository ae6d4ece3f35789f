"""What the runtime needs from a message transport, and nothing more.

The runtime publishes only after the journal commit, and only ids: losing or
duplicating any of these messages may delay work but never corrupts it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from ..journal.records import CommitResult, TaskMessage

log = logging.getLogger("continuum_celery.transport")


class Publisher(Protocol):
    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        """Ask some worker to replay ``run_id``."""

    def publish_activity(self, message: TaskMessage) -> None:
        """Ask some worker to perform one activity attempt."""


def in_one_batch(publisher: object, method: str, items: Sequence[Any]) -> bool:
    """Hand ``items`` to the publisher's batch ``method`` if it has one and there is
    more than one item; False when the caller must send them one by one."""
    batch = getattr(publisher, method, None)
    if batch is None or len(items) < 2:
        return False
    batch(items)
    return True


def wake_all(publisher: Publisher, run_ids: Sequence[str]) -> None:
    """Wake many runs at once: in a few messages where the publisher can carry many
    ids in one (``publish_advances``), else one message per run."""
    if not in_one_batch(publisher, "publish_advances", run_ids):
        for run_id in run_ids:
            publisher.publish_advance(run_id)


class AfterCommit:
    """A publisher for messages whose journal rows are already committed.

    Such a message is only a hint: if the broker is unreachable, upkeep publishes
    it again from Postgres (a run's wake marker, a task that was never claimed).
    Raising here would abandon what the worker still holds, such as an activity its
    commit claimed for it to run next, so a failed publish is logged and dropped.
    """

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.failures = 0
        """Publishes that failed so far (upkeep hands over when its own fail)."""

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        try:
            self.publisher.publish_advance(run_id, countdown)
        except Exception as error:
            self.failures += 1
            log.warning("wakeup of run %s not published (%s); upkeep will resend it",
                        run_id, error)  # fmt: skip

    def publish_advances(self, run_ids: Sequence[str]) -> None:
        try:
            wake_all(self.publisher, run_ids)
        except Exception as error:
            self.failures += 1
            log.warning("wakeups of %d runs not published (%s); upkeep will resend them",
                        len(run_ids), error)  # fmt: skip

    def publish_activity(self, message: TaskMessage) -> None:
        try:
            self.publisher.publish_activity(message)
        except Exception as error:
            self.failures += 1
            log.warning("task %s attempt %s not published (%s); upkeep will resend it",
                        message.task_id, message.attempt, error)  # fmt: skip

    def publish_activities(self, messages: Sequence[TaskMessage]) -> None:
        """A fan-out in one batch when the transport can (one producer for all).

        A batch that fails part-way is published again one by one: a message sent
        twice only costs its second delivery a refused claim.
        """
        try:
            if in_one_batch(self.publisher, "publish_activities", messages):
                return
        except Exception as error:
            log.warning("%d tasks not published in one batch (%s); one by one instead",
                        len(messages), error)  # fmt: skip
        for message in messages:
            self.publish_activity(message)


def publish_activities(publisher: Publisher, messages: Sequence[TaskMessage]) -> None:
    """A decision's activities, in one batch if ``publisher`` takes batches."""
    if not in_one_batch(publisher, "publish_activities", messages):
        for message in messages:
            publisher.publish_activity(message)


def publish_commit(publisher: Publisher, result: CommitResult) -> None:
    """After a commit: the activities its decisions scheduled and the runs to wake."""
    publish_activities(publisher, result.tasks)
    for run_id in result.wake:
        publisher.publish_advance(run_id)
