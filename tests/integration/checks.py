"""Assertions every integration test makes about a finished run's journal."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from continuum_celery import Event

TERMINALS = {
    "activity_scheduled": ("activity_completed", "activity_failed"),
    "timer_started": ("timer_fired",),
    "signal_awaited": ("signal_received", "timer_fired"),
}


def assert_gap_free(history: list[Event]) -> None:
    seqs = [e.seq for e in history]
    assert seqs == list(range(1, len(history) + 1)), f"seq not 1..n: {seqs}"


def assert_one_terminal_each(history: list[Event]) -> None:
    """Exactly one terminal event per scheduled activity, timer and signal await.

    A wait that was open when the run was asked to cancel may have none: the
    request closed it (and an activity may have been left running as the run ended).
    """
    terminal_types = {t for ts in TERMINALS.values() for t in ts}
    terminals = Counter(e.command_id for e in history if e.type in terminal_types)
    cancel = next((e.seq for e in history if e.type == "cancel_requested"), None)
    for event in history:
        if event.type in TERMINALS:
            allowed = {0, 1} if cancel is not None and event.seq < cancel else {1}
            assert terminals[event.command_id] in allowed, (
                f"{event.describe()} has {terminals[event.command_id]} terminal events"
            )
    opened = {e.command_id for e in history if e.type in TERMINALS}
    orphans = set(terminals) - opened
    assert not orphans, f"terminal events without a start: {orphans}"


def assert_sound(history: list[Event]) -> None:
    assert_gap_free(history)
    assert_one_terminal_each(history)


def types(history: list[Event]) -> list[str]:
    return [e.type for e in history]


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
