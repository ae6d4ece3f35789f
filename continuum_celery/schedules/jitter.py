"""Jitter that is the same wherever it is computed: a hash of schedule id and tick.

Spreading many schedules that share a tick (every hour on the hour) keeps them
from starting all at once. The delay must not depend on which worker computes it
or when, or two upkeep passes would disagree on when a tick is due, so it is
derived from the schedule id and the tick instead of drawn at random. It never
reaches the next tick, as in Temporal.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

_MICROSECOND = timedelta(microseconds=1)


def jitter_delay(
    schedule_id: str, tick: datetime, jitter: timedelta, following: datetime | None
) -> timedelta:
    """A delay in ``[0, min(jitter, following - tick))``, fixed for this tick."""
    if jitter <= timedelta(0):
        return timedelta(0)
    span = jitter if following is None else min(jitter, following - tick)
    digest = hashlib.sha256(f"{schedule_id}\x00{tick.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return int(span / _MICROSECOND * fraction) * _MICROSECOND
