"""Advancer decisions come from resident instances, and equal a replay's.

``Journal`` stands in for the ``RunStore``: one run's events in memory, a lease
per acquire, and a commit that also resolves what it can at once (as a worker
with eager continuation would), so ``advance`` goes round several times.
"""

from __future__ import annotations

from typing import Any

from continuum_celery import workflow
from continuum_celery.definitions import Registry, Workflow
from continuum_celery.engine.commands import Completed, Decision, Suspended
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from continuum_celery.errors import LeaseLost
from continuum_celery.journal.records import CommitResult, Lease
from continuum_celery.journal.waking import SHORT_HISTORY
from continuum_celery.runtime.advance import Advancer
from continuum_celery.runtime.stamping import stamp_versions
from tests.unit.driver import FakeLive, activity, json_copy

add = activity(lambda a, b: a + b, "math.add")
CHILD = "tests.child"


def summing(steps: int) -> list[Any]:
    total = 0
    for i in range(steps):
        total = add(total, i)
    return [total, workflow.run_child(CHILD, total)]


def registry() -> Registry:
    found = Registry()
    for name, fn, version in [("tests.summing", summing, 1), (CHILD, summing, 1),
                              (CHILD, summing, 3)]:  # fmt: skip
        found.add_workflow(Workflow(fn, name, starter=None, version=version))  # type: ignore[arg-type]
    return found


class Publisher:
    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        pass

    def publish_activity(self, message: Any) -> None:
        pass


class Journal:
    lease_ttl = 30.0

    def __init__(self, steps: int) -> None:
        self.events: list[Event] = []
        self.steps = steps
        self.token = 0
        self.fence_at: int | None = None
        self.checked: list[Decision] = []

    def acquire(self, run_id: str, owner: str) -> Lease:
        self.token += 1
        return Lease(run_id, self.token, "tests.summing", 1, "default", [self.steps], {}, {},
                     None, list(self.events))  # fmt: skip

    def renew(self, lease: Lease) -> bool:
        return True

    def release(self, lease: Lease, retry_in: float = 0.0) -> None:
        pass

    def refresh(self, lease: Lease) -> None:
        lease.history.extend(self.events[lease.last_seq :])

    def commit_decision(
        self, lease: Lease, decision: Decision, inline: object = None
    ) -> CommitResult:
        self.checked.append(decision)
        assert decision == self.replayed(lease), f"at seq {lease.last_seq}"
        if lease.token != self.token or len(self.checked) == self.fence_at:
            raise LeaseLost("taken over")
        for command in decision.commands:
            self.append(command.type, command.command_id, command.data | {"task_id": "t"})
            self.resolve(command.type, command.command_id, command.data)
        ended = not isinstance(decision.outcome, Suspended)
        return CommitResult([], not ended and bool(decision.commands), ended)

    def replayed(self, lease: Lease) -> Decision:
        """What the advancer decided before resident instances."""
        advancer = Advancer(self, registry(), Publisher(), FakeLive(), "reference")  # type: ignore[arg-type]
        info = advancer._info(lease)
        decision = replay(summing, [self.steps], {}, lease.history, info, FakeLive())
        stamp_versions(advancer.registry, lease, decision)
        return decision

    def append(self, type_: str, command_id: str, data: dict[str, Any]) -> None:
        self.events.append(Event(len(self.events) + 1, type_, command_id, json_copy(data)))

    def resolve(self, type_: str, command_id: str, data: dict[str, Any]) -> None:
        if type_ == "activity_scheduled":
            result = data["args"][0] + data["args"][1]
            self.append("activity_completed", command_id, {"result": result})
        elif type_ == "child_started":
            self.append("child_completed", command_id, {"result": f"v{data['version']}"})


def advancer(journal: Journal) -> Advancer:
    return Advancer(journal, registry(), Publisher(), FakeLive(), "test")  # type: ignore[arg-type]


def test_advance_goes_round_on_one_resident_instance() -> None:
    journal = Journal(steps=5)
    ours = advancer(journal)

    assert ours.advance("run-1")

    assert journal.checked[-1].outcome == Completed([10, "v3"]), "the child got the newest"
    assert len(journal.checked) == 7
    assert (ours.residents.builds, ours.residents.resumes) == (1, 6)
    assert "run-1" not in ours.residents


def test_a_fenced_commit_and_another_worker_leave_no_stale_instance() -> None:
    journal = Journal(steps=6)
    journal.fence_at = 3
    ours, theirs = advancer(journal), advancer(journal)

    ours.advance("run-1")  # two commits, then fenced out: its instance made one more
    assert "run-1" in ours.residents
    journal.fence_at = 6
    theirs.advance("run-1")  # goes further, then is fenced out in turn
    journal.fence_at = None
    ours.advance("run-1")

    assert journal.checked[-1].outcome == Completed([15, "v3"])
    assert ours.residents.builds == 2


def test_decide_equals_the_stamped_replay_at_every_step() -> None:
    journal = Journal(steps=3)
    ours = advancer(journal)
    while True:
        lease = journal.acquire("run-1", "test")
        decision = ours.decide(lease)
        assert decision is not None
        assert decision == journal.replayed(lease)
        if not isinstance(decision.outcome, Suspended):
            break
        journal.commit_decision(lease, decision)

    assert ours.residents.builds == 1


def test_decide_without_the_code_is_none() -> None:
    lease = Journal(steps=1).acquire("run-1", "test")
    lease.workflow = "tests.unknown"
    assert advancer(Journal(steps=1)).decide(lease) is None


class EagerJournal(Journal):
    """Also offers the one-transaction wakeup, and records which path a wake took;
    that wakeup declines a history longer than it is allowed to replay."""

    def __init__(self, steps: int) -> None:
        super().__init__(steps)
        self.paths: list[str] = []
        self.history_length = 0

    def acquire(self, run_id: str, owner: str) -> Lease:
        self.paths.append("lease")
        return super().acquire(run_id, owner)

    def wake_eagerly(
        self, run_id: str, decide: Any, inline: Any = None, max_history: int | None = None
    ) -> bool:
        if max_history is not None and self.history_length > max_history:
            self.paths.append("too long")
            return False
        self.paths.append("eager")
        return True  # "nothing to do"


def test_a_wakeup_skips_the_lease_for_a_run_held_live_or_with_a_short_history() -> None:
    journal = EagerJournal(steps=3)
    journal.fence_at = 2  # stop after one commit, so the instance stays parked
    ours = advancer(journal)
    ours.eager_wake = True

    journal.history_length = SHORT_HISTORY + 1
    ours.advance("run-1")  # not held live, and long: a from-the-top replay takes a lease
    assert journal.paths == ["too long", "lease"]
    assert "run-1" in ours.residents
    ours.advance("run-1")  # held live: one transaction under the row lock, any length
    assert journal.paths == ["too long", "lease", "eager"]
    ours.residents.clear()
    journal.history_length = SHORT_HISTORY
    ours.advance("run-1")  # short: replayed from the top under the row lock
    assert journal.paths == ["too long", "lease", "eager", "eager"]
    ours.eager_wake = False
    ours.advance("run-1")
    assert journal.paths[-1] == "lease"


def test_a_first_decision_equals_a_workers_first_replay_and_keeps_no_instance() -> None:
    journal = Journal(steps=3)
    ours = advancer(journal)
    lease = journal.acquire("run-1", "test")
    assert lease.history == []
    assert ours.first_decision(lease) == journal.replayed(lease)
    assert len(ours.residents) == 0, "the starting process keeps nothing resident"


def test_a_first_decision_is_left_to_a_worker_when_this_process_cannot_stand_in() -> None:
    ours = advancer(Journal(steps=1))
    cases = {
        "started by name": {"version": 0},
        "code missing": {"workflow": "tests.unknown"},
        "a child": {"parent_run_id": "run-0"},
    }
    for case, change in cases.items():
        lease = Journal(steps=1).acquire("run-1", "test")
        for field, value in change.items():
            setattr(lease, field, value)
        assert ours.first_decision(lease) is None, case


def test_a_first_replay_the_guard_blocks_is_left_to_a_worker() -> None:
    import time

    found = Registry()
    found.add_workflow(Workflow(lambda: time.time(), "tests.clocked", starter=None))  # type: ignore[arg-type]
    ours = Advancer(Journal(steps=1), found, Publisher(), FakeLive(), "test")  # type: ignore[arg-type]
    lease = Journal(steps=1).acquire("run-1", "test")
    lease.workflow, lease.args = "tests.clocked", []
    assert ours.first_decision(lease) is None
