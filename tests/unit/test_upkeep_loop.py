"""The upkeep loop's decisions, with the database replaced by plain objects.

Who sweeps (only the leader), how long the leader sleeps (until the earliest wait,
at most a second), and what happens when the broker refuses its publishes (it
hands upkeep over) or the database is away (one line per retry, backing off).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from continuum_celery.errors import SchemaNotMigrated
from continuum_celery.journal.db import JournalUnavailable
from continuum_celery.runtime.sweeper import UpkeepSettings
from continuum_celery.runtime.transport import AfterCommit
from continuum_celery.runtime.upkeep_loop import (
    LONGEST_SLEEP,
    OVERDUE_PAUSE,
    Backoff,
    UpkeepLoop,
)


class FakeSweeper:
    def __init__(self, publisher: AfterCommit | None = None) -> None:
        self.settings = UpkeepSettings()
        self.sweeps = self.timer_checks = 0
        self.publisher = publisher
        self.next_due: tuple[float, float | None] | None = None

    def run_once(self) -> None:
        self.sweeps += 1
        if self.publisher is not None:
            self.publisher.publish_advance("run-1")

    def fire_timers(self) -> int:
        self.timer_checks += 1
        return 0


class FakeLeader:
    def __init__(self, leads: bool, next_wait: float | None = None) -> None:
        self.leads, self.next_wait, self.resigned = leads, next_wait, 0

    def lead(self, owner: str, ttl: float) -> bool:
        return self.leads

    def resign(self, owner: str) -> None:
        self.resigned += 1

    def next_wait_in(self) -> float | None:
        return self.next_wait


class FakeListener:
    def __init__(self) -> None:
        self.listening = False

    def listen(self) -> None:
        self.listening = True

    def close(self) -> None:
        self.listening = False


class DeadBroker:
    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        raise ConnectionError("broker away")

    def publish_activity(self, message: Any) -> None:
        raise ConnectionError("broker away")


def loop(sweeper: Any, leader: Any, publisher: AfterCommit | None = None) -> UpkeepLoop:
    return UpkeepLoop(sweeper, leader, FakeListener(), lambda: None, "w1@host pid 1", 1.0,
                      publisher)  # type: ignore[arg-type]  # fmt: skip


def test_only_the_leader_sweeps_and_it_listens_for_new_waits() -> None:
    follower_sweeper, leader_sweeper = FakeSweeper(), FakeSweeper()
    follower = loop(follower_sweeper, FakeLeader(leads=False))
    leader = loop(leader_sweeper, FakeLeader(leads=True))
    assert follower.step() <= LONGEST_SLEEP and follower_sweeper.sweeps == 0
    leader.step()
    assert leader_sweeper.sweeps == 1 and leader.listener.listening  # type: ignore[attr-defined]
    leader.step()  # between sweeps, only the timers are looked at
    assert (leader_sweeper.sweeps, leader_sweeper.timer_checks) == (1, 1)


@pytest.mark.parametrize(("next_wait", "slept"), [(0.25, 0.252), (-3.0, OVERDUE_PAUSE)])
def test_the_leader_sleeps_until_the_earliest_wait(next_wait: float, slept: float) -> None:
    upkeep = loop(FakeSweeper(), FakeLeader(leads=True, next_wait=next_wait))
    assert upkeep.step() == pytest.approx(slept, abs=0.01)


class FiringSweeper(FakeSweeper):
    """Reads the next due time as it fires, as the real one does in that transaction."""

    def __init__(self, due_in: float | None) -> None:
        super().__init__()
        self.due_in = due_in

    def run_once(self) -> None:
        super().run_once()
        self.next_due = (time.monotonic(), self.due_in)

    def next_wait_in(self) -> float | None:
        return self.due_in


@pytest.mark.parametrize(("due_in", "slept"), [(0.25, 0.252), (-0.01, OVERDUE_PAUSE)])
def test_the_leader_sleeps_on_what_its_firing_read_without_a_read_of_its_own(
    due_in: float, slept: float
) -> None:
    """Overdue after a pass means a run was locked: look again shortly, not at once."""
    upkeep = loop(FiringSweeper(due_in), FakeLeader(leads=True, next_wait=30.0))
    assert upkeep.step() == pytest.approx(slept, abs=0.001)


@pytest.mark.parametrize("next_wait", [None, 30.0])
def test_the_leader_sleeps_a_second_at_most(next_wait: float | None) -> None:
    """At most a second, and until the next sweep (jittered, half to one and a half
    intervals away)."""
    upkeep = loop(FakeSweeper(), FakeLeader(leads=True, next_wait=next_wait))
    assert 0.5 - 0.01 <= upkeep.step() <= LONGEST_SLEEP


def test_a_leader_that_cannot_publish_hands_upkeep_over() -> None:
    publisher = AfterCommit(DeadBroker())
    leader = FakeLeader(leads=True)
    upkeep = loop(FakeSweeper(publisher), leader, publisher)
    upkeep.step()
    assert leader.resigned == 1 and not upkeep.leading
    sweeper = upkeep.sweeper
    upkeep.step()  # benched for a while: it does not lead again at once
    assert sweeper.sweeps == 1  # type: ignore[attr-defined]


def test_trouble_is_one_line_per_retry_backing_off(caplog: pytest.LogCaptureFixture) -> None:
    upkeep = loop(FakeSweeper(), FakeLeader(leads=True))
    with caplog.at_level(logging.INFO, logger="continuum_celery.upkeep"):
        pauses = [upkeep._trouble(JournalUnavailable("Postgres unavailable: refused"))
                  for _ in range(7)]  # fmt: skip
        upkeep._trouble(SchemaNotMigrated("run `continuum-celery migrate`"))
    assert pauses == [1, 2, 4, 8, 16, 30, 30]
    assert len(caplog.records) == 8 and not any(r.exc_info for r in caplog.records)
    assert caplog.records[-1].levelname == "ERROR"
    assert "continuum-celery migrate" in caplog.records[-1].getMessage()
    backoff = Backoff()
    backoff.next()
    assert backoff.reset() and not backoff.reset()
