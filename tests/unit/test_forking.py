"""Where a fork cuts a history, and what the copy must redo."""

from __future__ import annotations

import pytest

from continuum_celery.engine.events import Event
from continuum_celery.engine.forking import default_cut, plan


def ev(seq: int, type_: str, command_id: str | None = None) -> Event:
    data = {"activity": "a", "args": [], "kwargs": {}, "timeout": 5.0, "retry": {}}
    return Event(seq, type_, command_id, data if "scheduled" in type_ else {})


HISTORY = [
    ev(1, "activity_scheduled", "activity:a:0"),
    ev(2, "activity_completed", "activity:a:0"),
    ev(3, "cancel_requested"),
    ev(4, "timer_started", "timer:sleep:0"),
    ev(5, "activity_scheduled", "activity:a:1"),
    ev(6, "activity_failed", "activity:a:1"),
]


def test_from_the_failure_is_before_the_failed_activity_was_scheduled() -> None:
    assert default_cut("failed", "ActivityFailed: a failed ...", HISTORY) == 5


def test_from_a_drift_is_the_drifting_seq() -> None:
    error = "ReplayDriftError: seq 4 expected timer_started timer:sleep:0, got ..."
    assert default_cut("blocked", error, HISTORY) == 4


def test_any_other_run_is_forked_after_everything() -> None:
    assert default_cut("completed", None, HISTORY) == 7
    assert default_cut("failed", "ValueError: bad", HISTORY) == 7


def test_the_copy_drops_lifecycle_events_renumbers_and_reopens_what_was_pending() -> None:
    cut = plan(HISTORY, 6)
    assert [(e.seq, e.type) for e in cut.events] == [
        (1, "activity_scheduled"), (2, "activity_completed"), (3, "timer_started"),
        (4, "activity_scheduled"),
    ]  # fmt: skip
    assert [e.command_id for e in cut.tasks] == ["activity:a:1"]
    assert [e.command_id for e in cut.waits] == ["timer:sleep:0"]


def test_a_cut_that_would_strand_a_child_or_lies_outside_is_refused() -> None:
    with_child = [*HISTORY, ev(7, "child_started", "child:c:0")]
    with pytest.raises(ValueError, match="child run"):
        plan(with_child, 8)
    for bad in (0, 9, "3", True):
        with pytest.raises(ValueError, match="at_seq must be"):
            plan(with_child, bad)  # type: ignore[arg-type]
