"""The history timeline: offsets from the run's start, durations of each wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from continuum_celery.cli import timeline
from continuum_celery.engine.events import Event

START = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_a_resolution_takes_the_time_since_its_decision() -> None:
    events = [
        Event(1, "activity_scheduled", "a1", {}, at(0.5)),
        Event(2, "timer_started", "t1", {}, at(0.6)),
        Event(3, "activity_failed", "a1", {}, at(2.0)),
        Event(4, "activity_completed", "a1", {}, at(4.5)),
        Event(5, "timer_fired", "t1", {}, at(10.6)),
    ]
    found = timeline.entries(events, START)
    assert [e.offset for e in found] == [0.5, 0.6, 2.0, 4.5, 10.6]
    assert [e.duration for e in found] == [None, None, 1.5, 4.0, 10.0]


def test_events_without_times_or_decisions_have_no_duration() -> None:
    events = [Event(1, "cancel_requested", None, {}, None), Event(2, "signal_received", "s", {})]
    assert [(e.offset, e.duration) for e in timeline.entries(events, START)] == [(None, None)] * 2


def test_seconds_read_well_from_milliseconds_to_hours() -> None:
    assert timeline.seconds(0.0123) == "0.012s"
    assert timeline.seconds(75) == "1m15.0s"
    assert timeline.seconds(7200) == "2.0h"
    assert timeline.seconds(None) == ""
