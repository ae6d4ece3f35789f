"""Specs to fire times: cron in a zone, intervals with offsets, several specs, the
DST rule in a gap and a fold in two zones, jitter, and refused specs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from continuum_celery.errors import ContinuumError, InvalidSchedule
from continuum_celery.schedules import DstRule, Timing, next_ticks, parse_specs, zone
from continuum_celery.schedules.jitter import jitter_delay

PARIS, NEW_YORK = zone("Europe/Paris"), zone("America/New_York")


def local(instants: list[datetime], tz: object) -> list[str]:
    return [i.astimezone(tz).strftime("%m-%d %H:%M%z") for i in instants]  # type: ignore[arg-type]


def ticks(spec: str, tz: object, after: datetime, n: int, rule: DstRule | None = None) -> list[str]:
    found = next_ticks(parse_specs(spec), zone(tz), rule or DstRule(), after, n)
    return local(found, zone(tz))


# --- specs ------------------------------------------------------------------------------


def test_cron_shorthands_ranges_lists_and_steps() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert ticks("@hourly", "UTC", start, 2) == ["01-01 01:00+0000", "01-01 02:00+0000"]
    assert ticks("@daily", "UTC", start, 1) == ["01-02 00:00+0000"]
    assert ticks("0 9-10 * * MON-FRI", "UTC", start, 3) == [
        "01-01 09:00+0000", "01-01 10:00+0000", "01-02 09:00+0000"]  # fmt: skip
    assert ticks("0,30 12 * * *", "UTC", start, 2) == ["01-01 12:00+0000", "01-01 12:30+0000"]
    assert ticks("*/20 0 * * *", "UTC", start, 2) == ["01-01 00:20+0000", "01-01 00:40+0000"]


def test_cron_follows_the_zones_wall_clock() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert ticks("0 9 * * *", "Europe/Paris", start, 1) == ["01-01 09:00+0100"]
    found = next_ticks(parse_specs("0 9 * * *"), PARIS, DstRule(), start, 1)
    assert found == [datetime(2026, 1, 1, 8, tzinfo=UTC)]


def test_intervals_count_from_the_epoch_with_an_offset() -> None:
    start = datetime(2026, 1, 1, 0, 20, tzinfo=UTC)
    assert ticks("@every 1h/15m", "UTC", start, 2) == ["01-01 01:15+0000", "01-01 02:15+0000"]
    assert ticks("@every 90s", "UTC", start, 2) == ["01-01 00:21+0000", "01-01 00:22+0000"]
    assert ticks("@every 1d/2h", "UTC", start, 1) == ["01-01 02:00+0000"]


def test_several_specs_are_one_sorted_stream_without_repeats() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    found = next_ticks(parse_specs(["0 * * * *", "@every 30m", "30 0 * * *"]), zone("UTC"),
                       DstRule(), start, 4)  # fmt: skip
    assert local(found, UTC) == [
        "01-01 00:30+0000", "01-01 01:00+0000", "01-01 01:30+0000", "01-01 02:00+0000"]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("* * * *", "4 fields, not 5"),
        ("* * * * * *", "6 fields, not 5"),
        ("61 * * * *", "does not parse: Bad minute"),
        ("0 0 31 2 *", "does not parse"),
        ("*/0 * * * *", "does not parse"),
        ("@sometimes", "unknown shorthand"),
        ("@every", "is not a duration"),
        ("@every 5x", "is not a duration"),
        ("@every 0s", "at least 1s"),
        ("@every 1h/2h", "offset must be shorter"),
        ("", "1 to 200 printable"),
        ("0 0 * * *\n", "printable"),
        (5, "must be a str"),
    ],
)
def test_malformed_specs_are_refused_with_what_is_wrong(spec: object, says: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_specs([spec])  # type: ignore[list-item]
    assert says in str(caught.value)
    assert isinstance(caught.value, ContinuumError) and isinstance(caught.value, ValueError)


def test_empty_spec_lists_and_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidSchedule, match="spec must be"):
        parse_specs([])
    with pytest.raises(InvalidSchedule, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")
    with pytest.raises(InvalidSchedule, match="dst_gap must be one of shift, skip"):
        DstRule(gap="later")
    with pytest.raises(InvalidSchedule, match="dst_fold must be one of once, twice"):
        DstRule(fold="thrice")
    with pytest.raises(InvalidSchedule, match="catchup_window must be between 10s"):
        Timing.checked("s", "@hourly", catchup_window=1)
    with pytest.raises(InvalidSchedule, match="jitter must be a timedelta"):
        Timing.checked("s", "@hourly", jitter="soon")


# --- DST: a gap and a fold, in two zones ------------------------------------------------

# Spring forward: Paris 2026-03-29 02:00 -> 03:00, New York 2026-03-08 02:00 -> 03:00.
# Fall back: Paris 2026-10-25 03:00 -> 02:00, New York 2026-11-01 02:00 -> 01:00.
GAPS = [("Europe/Paris", datetime(2026, 3, 28, 12, tzinfo=UTC), "03-29"),
        ("America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC), "03-08")]  # fmt: skip
FOLDS = [("Europe/Paris", datetime(2026, 10, 24, 12, tzinfo=UTC), "10-25", "02:30",
          "+0200", "+0100"),
         ("America/New_York", datetime(2026, 10, 31, 12, tzinfo=UTC), "11-01", "01:30",
          "-0400", "-0500")]  # fmt: skip


@pytest.mark.parametrize(("tz", "start", "day"), GAPS)
def test_a_tick_in_a_gap_fires_when_the_clock_jumps_by_default(
    tz: str, start: datetime, day: str
) -> None:
    found = ticks("30 2 * * *", tz, start, 2)
    summer = "+0200" if tz == "Europe/Paris" else "-0400"
    assert found == [f"{day} 03:00{summer}", f"{day[:3]}{int(day[3:]) + 1:02d} 02:30{summer}"]


@pytest.mark.parametrize(("tz", "start", "day"), GAPS)
def test_a_tick_in_a_gap_is_skipped_by_setting(tz: str, start: datetime, day: str) -> None:
    found = ticks("30 2 * * *", tz, start, 1, DstRule(gap="skip"))
    assert found[0].startswith(f"{day[:3]}{int(day[3:]) + 1:02d} 02:30")


@pytest.mark.parametrize(("tz", "start", "day"), GAPS)
def test_ticks_in_one_gap_merge_with_the_tick_at_the_jump(
    tz: str, start: datetime, day: str
) -> None:
    """*/20 has 02:00, 02:20 and 02:40 in the gap: all three and 03:00 fire once."""
    after = datetime.fromisoformat(f"2026-{day}T01:50").replace(tzinfo=zone(tz))
    found = ticks("*/20 * * * *", tz, after, 3)
    assert [f[6:11] for f in found] == ["03:00", "03:20", "03:40"]


@pytest.mark.parametrize(("tz", "start", "day", "wall", "first", "second"), FOLDS)
def test_a_tick_in_a_fold_fires_once_by_default(
    tz: str, start: datetime, day: str, wall: str, first: str, second: str
) -> None:
    spec = f"{int(wall[3:])} {int(wall[:2])} * * *"
    found = ticks(spec, tz, start, 2)
    assert found[0] == f"{day} {wall}{first}"
    assert not found[1].startswith(day), "the second pass of the wall time does not fire"


@pytest.mark.parametrize(("tz", "start", "day", "wall", "first", "second"), FOLDS)
def test_a_tick_in_a_fold_fires_twice_by_setting(
    tz: str, start: datetime, day: str, wall: str, first: str, second: str
) -> None:
    spec = f"{int(wall[3:])} {int(wall[:2])} * * *"
    found = ticks(spec, tz, start, 3, DstRule(fold="twice"))
    assert found[:2] == [f"{day} {wall}{first}", f"{day} {wall}{second}"]
    instants = next_ticks(parse_specs(spec), zone(tz), DstRule(fold="twice"), start, 2)
    assert instants[1] - instants[0] == timedelta(hours=1)


@pytest.mark.parametrize(("tz", "start", "day", "wall", "first", "second"), FOLDS)
def test_fold_twice_keeps_instants_in_order_across_the_repeated_hour(
    tz: str, start: datetime, day: str, wall: str, first: str, second: str
) -> None:
    after = datetime.fromisoformat(f"2026-{day}T{wall}").replace(tzinfo=zone(tz)) - timedelta(
        minutes=40
    )
    found = next_ticks(parse_specs("*/30 * * * *"), zone(tz), DstRule(fold="twice"), after, 6)
    assert found == sorted(found) and len(set(found)) == 6
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(found))


def test_intervals_ignore_daylight_saving() -> None:
    start = datetime(2026, 11, 1, 4, 30, tzinfo=UTC)
    found = next_ticks(parse_specs("@every 1h"), NEW_YORK, DstRule(), start, 3)
    assert [f.hour for f in found] == [5, 6, 7]


# --- jitter -----------------------------------------------------------------------------


def test_jitter_is_the_same_for_a_tick_and_differs_between_ticks_and_schedules() -> None:
    tick = datetime(2026, 1, 1, tzinfo=UTC)
    jitter = timedelta(minutes=5)
    first = jitter_delay("s1", tick, jitter, None)
    assert first == jitter_delay("s1", tick, jitter, None)
    others = {jitter_delay("s1", tick + timedelta(hours=h), jitter, None) for h in range(20)}
    assert len(others) > 15 and all(timedelta(0) <= d < jitter for d in others)
    assert jitter_delay("s2", tick, jitter, None) != first


def test_jitter_never_reaches_the_next_tick() -> None:
    tick = datetime(2026, 1, 1, tzinfo=UTC)
    following = tick + timedelta(seconds=10)
    delays = [jitter_delay(f"s{i}", tick, timedelta(hours=1), following) for i in range(50)]
    assert all(d < timedelta(seconds=10) for d in delays)
    assert jitter_delay("s", tick, timedelta(0), following) == timedelta(0)


def test_timing_pairs_each_tick_with_its_fire_time() -> None:
    timing = Timing.checked("s", "@every 1m", jitter=30)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pairs = list(zip(range(3), timing.ticks(start), strict=False))
    for _, (tick, fire) in pairs:
        assert tick <= fire < tick + timedelta(seconds=30)
