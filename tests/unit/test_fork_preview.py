"""Which steps a fork at a seq reuses and which run again."""

from __future__ import annotations

import pytest

from continuum_celery.engine.events import Event
from continuum_celery.engine.fork_preview import preview


def ev(seq: int, type_: str, command_id: str | None = None, **data: object) -> Event:
    return Event(seq, type_, command_id, dict(data))


HISTORY = [
    ev(1, "workflow_started"),
    ev(2, "activity_scheduled", "activity:charge:0", activity="shop.charge"),
    ev(3, "activity_completed", "activity:charge:0"),
    ev(4, "cancel_requested"),
    ev(5, "side_effect", "side_effect:0"),
    ev(6, "activity_scheduled", "activity:ship:0", activity="shop.ship"),
    ev(7, "timer_started", "timer:sleep:0"),
    ev(8, "activity_failed", "activity:ship:0"),
]


def names(steps: list[object]) -> list[str]:
    return [s.command_id for s in steps]  # type: ignore[attr-defined]


def test_a_step_whose_outcome_is_before_the_cut_is_reused() -> None:
    found = preview(HISTORY, 6)
    assert names(found.reused) == ["activity:charge:0", "side_effect:0"]
    assert names(found.rerun) == ["activity:ship:0", "timer:sleep:0"]
    assert found.reused[0].name == "shop.charge" and found.reused[0].outcome_seq == 3
    assert (found.kept_events, found.dropped_events, found.refusal) == (4, 4, None)


def test_a_step_scheduled_before_the_cut_without_its_outcome_runs_again() -> None:
    assert "activity:ship:0" in names(preview(HISTORY, 8).rerun)
    after_all = preview(HISTORY, 9)  # the failure itself is kept: the fork replays it
    assert names(after_all.rerun) == ["timer:sleep:0"] and after_all.rerun[0].outcome is None


def test_a_cut_at_one_reuses_nothing() -> None:
    found = preview(HISTORY, 1)
    assert found.reused == [] and len(found.rerun) == 4 and found.kept_events == 0


def test_a_seq_outside_the_history_is_refused() -> None:
    for bad in (0, 10):
        with pytest.raises(ValueError, match="at_seq"):
            preview(HISTORY, bad)


def test_a_cut_that_strands_a_child_says_why_it_would_be_refused() -> None:
    history = [*HISTORY, ev(9, "child_started", "child:0", workflow="shop.refund")]
    found = preview(history, 10)
    assert found.refusal is not None and "child run" in found.refusal
    assert found.rerun[-1].kind == "child" and found.rerun[-1].name == "shop.refund"
