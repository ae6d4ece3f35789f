"""A schedule's timing, checked: specs, zone, DST rule, jitter, catch-up window.

Built from what a caller passes (``Timing.checked``) or from a stored row; every
fault raises ``InvalidSchedule`` before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import InvalidSchedule
from .clock import DstRule, ticks_after, zone
from .jitter import jitter_delay
from .specs import Spec, parse_specs

DEFAULT_CATCHUP_WINDOW = timedelta(days=1)
MIN_CATCHUP_WINDOW = timedelta(seconds=10)
MAX_SECONDS = 10 * 365 * 86400.0


def seconds(value: object, what: str, minimum: float = 0.0) -> timedelta:
    """A duration given as a timedelta or a number of seconds, within bounds."""
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidSchedule(f"{what} must be a timedelta or seconds, not {value!r}")
    if not (minimum <= number <= MAX_SECONDS) or math.isnan(number):
        raise InvalidSchedule(f"{what} must be between {minimum:g}s and 10 years, not {value!r}")
    return timedelta(seconds=number)


@dataclass(frozen=True)
class Timing:
    schedule_id: str
    specs: tuple[Spec, ...]
    tz: ZoneInfo
    rule: DstRule
    jitter: timedelta
    catchup_window: timedelta

    @classmethod
    def checked(
        cls,
        schedule_id: str,
        spec: str | Sequence[str],
        tz: object = "UTC",
        dst: tuple[str, str] = ("shift", "once"),
        jitter: object = 0.0,
        catchup_window: object = DEFAULT_CATCHUP_WINDOW,
    ) -> Timing:
        return cls(schedule_id, parse_specs(spec), zone(tz), DstRule(*dst),
                   seconds(jitter, "jitter"),
                   seconds(catchup_window, "catchup_window",
                           MIN_CATCHUP_WINDOW.total_seconds()))  # fmt: skip

    @property
    def spec_texts(self) -> list[str]:
        return [spec.text for spec in self.specs]

    def ticks(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """(tick, when it fires) for every tick after ``after``, in order."""
        stream = ticks_after(self.specs, self.tz, self.rule, after)
        tick = next(stream, None)
        while tick is not None:
            following = next(stream, None)
            yield tick, tick + jitter_delay(self.schedule_id, tick, self.jitter, following)
            tick = following

    def first_after(self, after: datetime) -> tuple[datetime, datetime] | None:
        """The next tick after ``after`` and when it fires; None if it never does."""
        return next(self.ticks(after), None)
