"""Retry policy: how many attempts an activity gets and how long to wait between them.

The journal owns retries, not Celery: the policy is validated when the activity is
declared (so a typo fails at import, not at 3 a.m.), stored with the task row, and
applied on the database side when an attempt fails.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..errors import InvalidRetryPolicy

Backoff = Literal["constant", "exponential"]

MAX_SECONDS = 100 * 365.25 * 86400
"""The longest duration anything waits (a sleep, a signal timeout, a backoff): a
century. Longer ones are refused up front, before a timestamp overflows mid-commit."""


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for one activity.

    ``base``, ``jitter`` and ``max_backoff`` are seconds. Exponential backoff waits
    ``base * 2**(attempt-1)``, capped at ``max_backoff``; jitter adds up to ``jitter``
    seconds at random while never pushing the delay past the cap.

    The default retries like Temporal's: from 1 s, doubling, capped at 100 s, with
    no limit on attempts (``max_attempts=None``), so a worker that dies mid-activity
    costs a retry, never the run. ``NonRetryableError`` and failures that cannot
    change on retry (an unserializable result) still stop at once.
    ``RetryPolicy(max_attempts=1)`` means one attempt and no retry.
    """

    max_attempts: int | None = None
    backoff: Backoff = "exponential"
    base: float = 1.0
    jitter: float = 0.0
    max_backoff: float = 100.0

    def __post_init__(self) -> None:
        _check_attempts(self.max_attempts)
        if self.backoff not in ("constant", "exponential"):
            raise InvalidRetryPolicy(
                f"backoff must be 'constant' or 'exponential', not {self.backoff!r}"
            )
        for name in ("base", "jitter", "max_backoff"):
            _check_seconds(name, getattr(self, name))
        if self.base > self.max_backoff:
            raise InvalidRetryPolicy(
                f"base ({self.base}s) must not exceed max_backoff ({self.max_backoff}s)"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryPolicy:
        return cls(**data)


def _check_attempts(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRetryPolicy(f"max_attempts must be an int >= 1 or None, not {value!r}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRetryPolicy(f"{name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InvalidRetryPolicy(f"{name} must be a finite number >= 0, not {value!r}")
    if value > MAX_SECONDS:
        raise InvalidRetryPolicy(f"{name} must be at most a century, not {value!r} seconds")


def next_delay(policy: RetryPolicy, failed_attempt: int, unit_random: float) -> float | None:
    """Seconds to wait before the next attempt, or None when attempts are used up.

    ``unit_random`` in [0, 1) is passed in so this stays a pure function.
    """
    if policy.max_attempts is not None and failed_attempt >= policy.max_attempts:
        return None
    if policy.backoff == "constant":
        delay = policy.base
    else:
        delay = policy.base * 2.0 ** min(failed_attempt - 1, 62)
    jitter = min(policy.jitter, policy.max_backoff)
    delay = min(delay, policy.max_backoff - jitter)
    return max(0.0, delay) + jitter * unit_random
