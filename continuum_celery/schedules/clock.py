"""Ticks as instants: cron wall-clock times in an IANA zone, intervals in UTC, and
the daylight-saving rule that decides what a wall time means when the clock jumps.

Cron specs are matched literally against the zone's wall clock (as Temporal does),
and each matching wall time then becomes zero, one or two instants:

- **Gap** (spring forward: 02:30 does not exist in Paris on the last Sunday of
  March). ``gap="shift"`` (default) fires at the first valid instant after it,
  which is the moment of the jump (03:00 local); several ticks in one gap, or a
  tick already at that moment, become one. ``gap="skip"`` fires nothing.
- **Fold** (fall back: 01:30 happens twice in New York on the first Sunday of
  November). ``fold="once"`` (default) fires at the first of the two instants;
  ``fold="twice"`` fires at both.

Intervals are counted in UTC from the Unix epoch and never see a jump.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim

from ..errors import InvalidSchedule
from .specs import CronSpec, IntervalSpec, Spec

GAPS = ("shift", "skip")
FOLDS = ("once", "twice")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FOLD_LOOKBACK = timedelta(hours=3)
"""No zone's clock goes back by more than this at once (in practice one hour)."""


@dataclass(frozen=True)
class DstRule:
    gap: str = "shift"
    fold: str = "once"

    def __post_init__(self) -> None:
        if self.gap not in GAPS:
            raise InvalidSchedule(f"dst_gap must be one of {', '.join(GAPS)}, not {self.gap!r}")
        if self.fold not in FOLDS:
            raise InvalidSchedule(f"dst_fold must be one of {', '.join(FOLDS)}, "
                                  f"not {self.fold!r}")  # fmt: skip


def zone(name: object) -> ZoneInfo:
    """The IANA zone of that name; InvalidSchedule for anything else."""
    if not isinstance(name, str) or not name or not name.isprintable() or len(name) > 64:
        raise InvalidSchedule(f"tz must be an IANA time zone name like 'Europe/Paris', "
                              f"not {name!r}")  # fmt: skip
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"unknown time zone {name!r} (use an IANA name "
                              "like 'Europe/Paris' or 'UTC')") from None  # fmt: skip


def wall_instants(wall: datetime, tz: ZoneInfo, rule: DstRule) -> list[datetime]:
    """The instants (UTC) at which the naive wall time ``wall`` fires in ``tz``."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if _local(early, tz) != wall:  # in a gap: no instant shows this wall time
        return [] if rule.gap == "skip" else [_jump(min(early, late), max(early, late), tz)]
    if early != late and rule.fold == "twice":
        return [early, late]
    return [early]


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta(0)


def _jump(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (before, after] whose wall time is past the gap."""
    while after - before > timedelta(seconds=1):
        middle = (before + (after - before) / 2).replace(microsecond=0)
        if _local(middle, tz) - _local(before, tz) > middle - before:
            after = middle
        else:
            before = middle
    return after


def _primary(wall: datetime, tz: ZoneInfo) -> datetime:
    """The earliest instant any later wall time can fire at: non-decreasing in ``wall``."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if _local(early, tz) != wall:
        return _jump(min(early, late), max(early, late), tz)
    return early


def cron_ticks(spec: CronSpec, tz: ZoneInfo, rule: DstRule, after: datetime) -> Iterator[datetime]:
    """Instants after ``after``, increasing: the second pass of a fold fires after
    wall times that come later, so instants wait in a heap until no later wall
    time can fire before them."""
    drop = _offset(after, tz) - _offset(after + _FOLD_LOOKBACK, tz)
    start = _local(after, tz) - max(drop, timedelta(0)) - timedelta(seconds=1)
    pending: list[datetime] = []
    for wall in CronSim(spec.expression, start):
        for instant in wall_instants(wall, tz, rule):
            if instant > after:
                heapq.heappush(pending, instant)
        bound = _primary(wall, tz)
        while pending and pending[0] <= bound:
            yield heapq.heappop(pending)
    yield from sorted(pending)


def interval_ticks(spec: IntervalSpec, after: datetime) -> Iterator[datetime]:
    """``EPOCH + offset + k * every`` for every k that lands after ``after``."""
    k = (after - EPOCH - spec.offset) // spec.every + 1
    while True:
        yield EPOCH + spec.offset + k * spec.every
        k += 1


SHARED_TICKS = 8
"""Ticks after a cursor remembered for every schedule with the same timing: a pass
over 10,000 schedules on one spec, due on the same minute, computes them once."""


def ticks_after(
    specs: Sequence[Spec], tz: ZoneInfo, rule: DstRule, after: datetime
) -> Iterator[datetime]:
    """Every tick of every spec after ``after``, increasing, each instant once."""
    first = _first_ticks(tuple(specs), tz, rule, after)
    yield from first
    if len(first) == SHARED_TICKS:
        yield from _ticks_after(specs, tz, rule, first[-1])


@functools.lru_cache(maxsize=1024)
def _first_ticks(
    specs: tuple[Spec, ...], tz: ZoneInfo, rule: DstRule, after: datetime
) -> tuple[datetime, ...]:
    return tuple(itertools.islice(_ticks_after(specs, tz, rule, after), SHARED_TICKS))


def _ticks_after(
    specs: Sequence[Spec], tz: ZoneInfo, rule: DstRule, after: datetime
) -> Iterator[datetime]:
    streams: list[Iterable[datetime]] = [
        cron_ticks(s, tz, rule, after) if isinstance(s, CronSpec) else interval_ticks(s, after)
        for s in specs
    ]
    last = None
    for instant in heapq.merge(*streams):
        if instant != last:
            last = instant
            yield instant


def next_ticks(
    specs: Sequence[Spec], tz: ZoneInfo, rule: DstRule, after: datetime, count: int
) -> list[datetime]:
    found: list[datetime] = []
    for instant in ticks_after(specs, tz, rule, after):
        if len(found) >= count:
            break
        found.append(instant)
    return found


def ticks_between(
    specs: Sequence[Spec], tz: ZoneInfo, rule: DstRule, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Ticks in ``[start, end)``."""
    for instant in ticks_after(specs, tz, rule, start - timedelta(microseconds=1)):
        if instant >= end:
            return
        yield instant
