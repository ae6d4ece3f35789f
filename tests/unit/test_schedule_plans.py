"""Overlap policies and catch-up as pure decisions, on a clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from continuum_celery.errors import InvalidSchedule
from continuum_celery.schedules import Due, Timing, backfill, check_policy, plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def due(overlap: str = "skip", running: bool = False, buffered: tuple[datetime, ...] = (),
        window: float = 3600, jitter: float = 0) -> Due:  # fmt: skip
    timing = Timing.checked("s", "@every 1m", jitter=jitter, catchup_window=window)
    return Due(timing, overlap, T0 + MINUTE, buffered, running)


def kinds(steps: list) -> list[str]:  # type: ignore[type-arg]
    return [s.kind for s in steps]


def test_nothing_is_due_before_the_first_tick() -> None:
    p = plan(due(), T0 + 30 * timedelta(seconds=1))
    assert p.steps == [] and p.next_tick == T0 + MINUTE and p.next_fire_at == T0 + MINUTE


def test_a_due_tick_starts_and_the_cursor_moves_to_the_next() -> None:
    p = plan(due(), T0 + MINUTE)
    assert kinds(p.steps) == ["start"] and p.steps[0].tick == T0 + MINUTE
    assert p.next_tick == T0 + 2 * MINUTE


def test_catch_up_after_three_missed_ticks_under_allow_all_starts_each() -> None:
    p = plan(due("allow_all"), T0 + 3 * MINUTE + timedelta(seconds=5))
    assert [s.tick for s in p.steps] == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert p.next_tick == T0 + 4 * MINUTE and p.missed == 0


def test_catch_up_under_skip_starts_one_and_counts_the_rest_skipped() -> None:
    p = plan(due("skip"), T0 + 3 * MINUTE)
    assert kinds(p.steps) == ["start"] and p.skipped == 2


def test_ticks_older_than_the_catchup_window_are_missed() -> None:
    p = plan(due("allow_all", window=90), T0 + 5 * MINUTE)
    assert [s.tick for s in p.steps] == [T0 + 4 * MINUTE, T0 + 5 * MINUTE]
    assert p.missed == 3


def test_a_long_outage_is_taken_a_bounded_number_of_ticks_per_pass() -> None:
    p = plan(due("allow_all", window=10 * 86400), T0 + 3000 * MINUTE, limit=1000)
    assert len(p.steps) == 1000 and p.next_tick == T0 + 1001 * MINUTE


def test_skip_while_a_run_is_open() -> None:
    p = plan(due("skip", running=True), T0 + MINUTE)
    assert p.steps == [] and p.skipped == 1 and p.buffered == []


def test_buffer_one_remembers_one_and_drops_the_rest() -> None:
    p = plan(due("buffer_one", running=True), T0 + 3 * MINUTE)
    assert p.steps == [] and p.buffered == [T0 + MINUTE] and p.dropped == 2
    after = plan(Due(due().timing, "buffer_one", p.next_tick, tuple(p.buffered), False),
                 T0 + 3 * MINUTE + timedelta(seconds=10))  # fmt: skip
    assert [s.tick for s in after.steps] == [T0 + MINUTE] and after.buffered == []


def test_buffer_all_remembers_every_tick_and_starts_them_one_at_a_time() -> None:
    p = plan(due("buffer_all", running=True), T0 + 3 * MINUTE)
    assert p.buffered == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE] and p.dropped == 0
    ended = Due(due().timing, "buffer_all", p.next_tick, tuple(p.buffered), False)
    after = plan(ended, T0 + 3 * MINUTE + timedelta(seconds=1))
    assert [s.tick for s in after.steps] == [T0 + MINUTE]
    assert after.buffered == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]


def test_buffer_all_drops_past_its_limit() -> None:
    full = tuple(T0 - i * MINUTE for i in range(1000, 0, -1))
    p = plan(due("buffer_all", running=True, buffered=full), T0 + MINUTE)
    assert len(p.buffered) == 1000 and p.dropped == 1


def test_cancel_other_asks_once_and_starts_after_the_run_ends() -> None:
    p = plan(due("cancel_other", running=True), T0 + 2 * MINUTE)
    assert kinds(p.steps) == ["cancel"] and p.buffered == [T0 + MINUTE] and p.dropped == 1
    ended = Due(due().timing, "cancel_other", p.next_tick, tuple(p.buffered), False)
    assert kinds(plan(ended, T0 + 2 * MINUTE).steps) == ["start"]


def test_terminate_other_terminates_and_starts_at_once() -> None:
    p = plan(due("terminate_other", running=True), T0 + MINUTE)
    assert kinds(p.steps) == ["terminate", "start"]
    caught_up = plan(due("terminate_other"), T0 + 2 * MINUTE)
    assert kinds(caught_up.steps) == ["start", "terminate", "start"]


def test_allow_all_starts_whatever_runs() -> None:
    p = plan(due("allow_all", running=True), T0 + 2 * MINUTE)
    assert kinds(p.steps) == ["start", "start"] and p.skipped == 0


def test_jitter_delays_the_fire_time_not_the_tick() -> None:
    d = due(jitter=50)
    first = plan(d, T0)
    assert first.next_tick == T0 + MINUTE and first.next_fire_at >= T0 + MINUTE  # type: ignore[operator]
    assert first.next_fire_at < T0 + MINUTE + timedelta(seconds=50)  # type: ignore[operator]
    assert plan(d, first.next_fire_at - timedelta(microseconds=1)).steps == []  # type: ignore[operator]
    assert [s.tick for s in plan(d, first.next_fire_at).steps] == [T0 + MINUTE]  # type: ignore[arg-type]


def test_backfill_takes_each_tick_through_the_policy() -> None:
    ticks = [T0 + i * MINUTE for i in range(3)]
    assert len(backfill(due("allow_all"), ticks).steps) == 3
    skipped = backfill(due("skip"), ticks)
    assert len(skipped.steps) == 1 and skipped.skipped == 2
    assert backfill(due("buffer_all"), ticks).buffered == ticks[1:]


def test_unknown_policies_are_refused() -> None:
    assert check_policy("buffer_one") == "buffer_one"
    with pytest.raises(InvalidSchedule, match="overlap must be one of skip, buffer_one"):
        check_policy("queue")
