"""What the runtime needs from a message transport, and nothing more.

The runtime publishes only after the journal commit, and only ids: losing or
duplicating any of these messages may delay work but never corrupts it.
"""

from __future__ import annotations

from typing import Protocol

from ..journal.records import TaskMessage


class Publisher(Protocol):
    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        """Ask some worker to replay ``run_id``."""

    def publish_activity(self, message: TaskMessage) -> None:
        """Ask some worker to perform one activity attempt."""
