"""The real sources of time and entropy, read only at a replay's live tail."""

from __future__ import annotations

import random as _random
import uuid
from datetime import UTC, datetime


class SystemSources:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def uuid4(self) -> str:
        return str(uuid.uuid4())

    def random(self) -> float:
        return _random.random()
