"""N concurrent advances of one run yield exactly one committed history.

Two ways to race replays of a single run against the real journal (no Celery):

* a model: hypothesis generates interleavings of steps taken by several logical
  replayers (acquire a lease, replay, commit) and by the environment (expire the
  current lease so another replayer can steal it, complete a pending activity).
  Because the steps run one at a time, an oracle can say exactly which commit must
  win and which must be fenced out, and what each fenced-out commit must not write;
* real threads: several ``Advancer.advance`` loops on the same run while other
  threads perform the activities they publish (and, optionally, one keeps
  expiring whatever lease is current).

Either way the finished run must have one gap-free history, every command once,
one terminal event per activity, and a history that replays to the recorded
result without asking for anything new.
"""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import text

from continuum_celery import FencingError, LeaseLost, RunNotActive, workflow
from continuum_celery.definitions import Activity, ActivityOptions, Registry, Workflow
from continuum_celery.engine.commands import Completed, Decision, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import DECISION_TYPES, Event
from continuum_celery.engine.replay import replay
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import (
    ClaimedTask,
    CommitResult,
    InlineOffer,
    Lease,
    NewRun,
    TaskMessage,
)
from continuum_celery.journal.rows import mark_wake
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.sweep import SweepStore
from continuum_celery.journal.tasks import TaskStore
from continuum_celery.runtime.advance import Advancer
from continuum_celery.runtime.live import SystemSources
from continuum_celery.workflow import gather
from tests.integration.checks import assert_gap_free, assert_one_terminal_each

WORKFLOW = "concurrent.flow"
ACTIVITY = "concurrent.step"


def body(n: int) -> int:
    """The activity body; the environment 'performs' it when it completes a task."""
    return 2 * n


step = Activity(body, ACTIVITY, ActivityOptions())


def flow(width: int) -> dict[str, Any]:
    """A side effect, a chained step, a fan-out of ``width`` and a final step."""
    token = str(workflow.uuid4())
    first = step(1)
    fan = gather(*[step.start(10 + i) for i in range(width)])
    last = step(first + sum(fan))
    return {"token": token, "first": first, "fan": fan, "last": last}


def expected_result(width: int, token: str) -> dict[str, Any]:
    fan = [body(10 + i) for i in range(width)]
    return {"token": token, "first": body(1), "fan": fan, "last": body(body(1) + sum(fan))}


def new_registry() -> Registry:
    registry = Registry()
    registry.add_activity(step)
    registry.add_workflow(Workflow(flow, WORKFLOW, lambda *a, **k: None))
    return registry


# --- journal access -------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(journal_db: Database) -> Database:
    return journal_db


def start_run(runs: RunStore, width: int) -> str:
    run_id, created = runs.start_run(NewRun(str(uuid.uuid4()), WORKFLOW, [width], {}))
    assert created
    return run_id


def decide(lease: Lease) -> Decision:
    info = WorkflowInfo(lease.run_id, lease.workflow)
    return replay(flow, lease.args, lease.kwargs, lease.history, info, SystemSources())


def replay_history(run_id: str, width: int, history: list[Event]) -> Decision:
    """Replay a run's journal as a fresh lease holder would."""
    lease = Lease(
        run_id=run_id,
        token=0,
        workflow=WORKFLOW,
        version=1,
        namespace="default",
        args=[width],
        kwargs={},
        attributes={},
        parent_run_id=None,
        history=history,
    )
    return decide(lease)


def expire_lease(db: Database, run_id: str) -> bool:
    """Age the current lease out, as if its holder stalled; True if there was one."""
    with db.engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE cx_runs SET lease_expires_at = clock_timestamp() - interval '1 s'"
                " WHERE id = :id AND lease_owner IS NOT NULL RETURNING id"
            ),
            {"id": run_id},
        ).first()
    return row is not None


def ready_tasks(db: Database, run_id: str) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, attempt FROM cx_tasks WHERE run_id = :id AND state = 'ready'"
                " ORDER BY created_at, command_id"
            ),
            {"id": run_id},
        )
        return [(str(r.id), int(r.attempt)) for r in rows]


def run_row(db: Database, run_id: str) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT state, last_seq, lease_token, wake_at, result FROM cx_runs WHERE id = :id"
            ),
            {"id": run_id},
        ).one()


def snapshot(db: Database, runs: RunStore, run_id: str) -> tuple[Any, ...]:
    """Everything a decision commit could touch for this run."""
    with db.engine.connect() as conn:
        tasks = conn.execute(
            text("SELECT id, state FROM cx_tasks WHERE run_id = :id ORDER BY id"), {"id": run_id}
        ).all()
        waits = conn.execute(
            text("SELECT command_id, resolved FROM cx_waits WHERE run_id = :id ORDER BY 1"),
            {"id": run_id},
        ).all()
        run = conn.execute(
            text(
                "SELECT state, last_seq, lease_owner, lease_token, wake_at, result"
                " FROM cx_runs WHERE id = :id"
            ),
            {"id": run_id},
        ).one()
    return (runs.history(run_id), tuple(tasks), tuple(waits), tuple(run))


# --- invariants -----------------------------------------------------------------------


def decision_ids(history: list[Event]) -> list[str | None]:
    return [e.command_id for e in history if e.type in DECISION_TYPES]


def assert_consistent_so_far(history: list[Event]) -> None:
    """What must hold after every step, finished or not."""
    assert_gap_free(history)
    ids = decision_ids(history)
    duplicated = [c for c, n in Counter(ids).items() if n > 1]
    assert not duplicated, f"command ids decided twice: {duplicated}"
    resolutions = Counter(
        e.command_id for e in history if e.type not in DECISION_TYPES and e.command_id
    )
    assert all(n == 1 for n in resolutions.values()), f"resolved twice: {resolutions}"
    assert set(resolutions) <= set(ids), "a resolution for a command never decided"


def assert_final(db: Database, runs: RunStore, run_id: str, width: int) -> list[Event]:
    run = runs.get_run(run_id)
    assert run.state == "completed", f"run ended {run.state}: {run.error}"
    history = runs.history(run_id)
    assert_consistent_so_far(history)
    assert_one_terminal_each(history)
    scheduled = [e for e in history if e.type == "activity_scheduled"]
    assert len(scheduled) == width + 2
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, command_id, state FROM cx_tasks WHERE run_id = :id"), {"id": run_id}
        ).all()
    assert sorted((str(r.id), r.command_id) for r in rows) == sorted(
        (e.data["task_id"], e.command_id) for e in scheduled
    ), "one task row per scheduled activity, from the commit that journaled it"
    assert {r.state for r in rows} == {"completed"}

    # Replaying the final history reproduces the recorded result and decides nothing.
    final = replay_history(run_id, width, history)
    assert final.commands == [], f"replay of a finished history asked for {final.commands}"
    assert final.outcome == Completed(run.result)
    token = next(e.data["value"] for e in history if e.type == "side_effect")
    assert run.result == expected_result(width, token)
    return history


# --- the model ------------------------------------------------------------------------


@dataclass
class Replayer:
    name: str
    lease: Lease | None = None
    decision: Decision | None = None


@dataclass
class Model:
    """Drives the journal one step at a time and predicts every outcome."""

    db: Database
    runs: RunStore
    tasks: TaskStore
    run_id: str
    replayers: list[Replayer]
    valid_token: int | None = None  # the one lease that may commit right now
    wake: bool = True  # unseen input: a lease may be granted
    finished: bool = False
    fenced: int = 0
    committed: int = 0
    completions: int = 0
    width: int = 0
    awaiting: int | None = None  # completions the code needs, as the run row should say
    absorbed: int = 0  # completions that landed without waking the run
    log: list[str] = field(default_factory=list)

    def acquire(self, i: int) -> None:
        r = self.replayers[i]
        expected = not self.finished and self.wake and self.valid_token is None
        lease = self.runs.acquire(self.run_id, r.name)
        assert (lease is not None) == expected, (
            f"{r.name}: acquire gave {lease and lease.token}, expected a lease: {expected}"
        )
        if lease is not None:
            assert self.valid_token is None
            if r.lease is not None:
                assert lease.token > r.lease.token, "lease tokens only ever increase"
            r.lease, r.decision = lease, None
            self.valid_token = lease.token
            self.log.append(f"{r.name} acquired token {lease.token}")

    def replay(self, i: int) -> None:
        r = self.replayers[i]
        if r.lease is not None:
            r.decision = decide(r.lease)

    def commit(self, i: int) -> None:
        r = self.replayers[i]
        if r.lease is None or r.decision is None:
            return
        lease, decision = r.lease, r.decision
        should_win = lease.token == self.valid_token and not self.finished
        before = snapshot(self.db, self.runs, self.run_id)
        last_seq = before[3][1]
        try:
            result = self.runs.commit_decision(lease, decision)
        except FencingError as error:
            assert not should_win, f"{r.name}: the current lease holder was fenced out: {error}"
            expected_error = RunNotActive if self.finished else LeaseLost
            assert isinstance(error, expected_error), f"{r.name}: {error!r}"
            assert snapshot(self.db, self.runs, self.run_id) == before, (
                "a fenced-out commit wrote something"
            )
            self.fenced += 1
            self.log.append(f"{r.name} fenced out with token {lease.token}")
            return
        assert should_win, f"{r.name}: a stale lease (token {lease.token}) committed"
        self.committed += 1
        self._check_written(before[0], decision, result, last_seq != lease.last_seq)
        again = " (again)" if result.again else ""
        self.log.append(f"{r.name} committed {len(decision.commands)} commands{again}")
        if result.finished:
            self.finished, self.valid_token = True, None
        elif result.again:
            self.runs.refresh(lease)  # what Advancer does before replaying again
            r.decision, self.awaiting = None, None
        else:
            self.valid_token, self.wake = None, False
            needs = decision.outcome.needs if isinstance(decision.outcome, Suspended) else 1
            self.awaiting = needs if needs > 1 else None

    def _check_written(
        self, before: list[Event], decision: Decision, result: CommitResult, missed: bool
    ) -> None:
        after = self.runs.history(self.run_id)
        written = after[len(before) :]
        assert after[: len(before)] == before, "a commit rewrote existing history"
        assert [(e.type, e.command_id) for e in written] == [
            (c.type, c.command_id) for c in decision.commands
        ]
        assert [m.task_id for m in result.tasks] == [
            e.data["task_id"] for e in written if e.type == "activity_scheduled"
        ]
        finished = isinstance(decision.outcome, Completed)
        assert result.finished == finished
        assert result.again == (missed and not finished), "input landed during the replay"

    def expire(self) -> None:
        had_lease = expire_lease(self.db, self.run_id)
        if self.valid_token is not None:
            assert had_lease
            self.log.append(f"lease {self.valid_token} expired")
        self.valid_token = None

    def complete(self, k: int) -> None:
        ready = ready_tasks(self.db, self.run_id)
        if not ready:
            return
        task_id, attempt = ready[k % len(ready)]
        claim = self.tasks.claim(task_id, attempt, ACTIVITY)
        assert isinstance(claim, ClaimedTask), claim
        settled = self.tasks.complete(claim, body(*claim.args))
        assert settled.accepted and settled.commit is None
        self.completions += 1
        if self.awaiting is not None and self.awaiting > 1 and not self.finished:
            assert settled.run_to_wake is None, "a gather's completion woke the run early"
            self.awaiting -= 1
            self.absorbed += 1
            self.log.append(f"completed {claim.command_id} (absorbed)")
            self._assert_nothing_to_decide()
            return
        assert settled.run_to_wake == self.run_id
        self.wake, self.awaiting = True, None
        self.log.append(f"completed {claim.command_id}")

    def _assert_nothing_to_decide(self) -> None:
        """An absorbed completion left the run as is: replaying it now would decide
        nothing new (otherwise that replay was owed a wakeup)."""
        history = self.runs.history(self.run_id)
        fresh = replay_history(self.run_id, self.width, history)
        assert fresh.commands == [] and isinstance(fresh.outcome, Suspended), fresh

    def step(self, op: str, i: int) -> None:
        if op == "expire":
            self.expire()
        elif op == "complete":
            self.complete(i)
        else:
            getattr(self, op)(i % (len(self.replayers) - 1))
        assert_consistent_so_far(self.runs.history(self.run_id))

    def drain(self, limit: int = 200) -> None:
        """Finish the run with the spare replayer, still checking every prediction."""
        closer = len(self.replayers) - 1
        for _ in range(limit):
            if self.finished:
                return
            if ready_tasks(self.db, self.run_id):
                self.complete(0)
                continue
            self.expire()
            assert self.wake, "no activity pending, no wake marker, run not finished: stuck"
            self.acquire(closer)
            while self.valid_token is not None and not self.finished:
                self.replay(closer)
                self.commit(closer)
        raise AssertionError(f"run not finished after {limit} drain steps")


OPS = ("acquire", "replay", "commit", "expire", "complete")
steps_strategy = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(min_value=0, max_value=7),
    ),
    min_size=10,
    max_size=60,
)

# Staged: r0 replays, its lease is stolen by r1 (which commits), r0 commits late and
# r1 commits its released lease again; later an activity lands mid-replay.
STOLEN = [
    ("acquire", 0), ("replay", 0), ("expire", 0), ("acquire", 1), ("replay", 1),
    ("commit", 1), ("commit", 0), ("commit", 1), ("complete", 0), ("acquire", 0),
    ("replay", 0), ("commit", 0), ("complete", 0), ("acquire", 1), ("replay", 1),
    ("complete", 0), ("commit", 1), ("replay", 1), ("commit", 1),
]  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(replayers=2, width=2, steps=STOLEN)
@given(
    replayers=st.integers(min_value=2, max_value=4),
    width=st.integers(min_value=0, max_value=4),
    steps=steps_strategy,
)
def test_interleaved_replayers_commit_one_history(
    db: Database, replayers: int, width: int, steps: list[tuple[str, int]]
) -> None:
    runs, tasks = RunStore(db, lease_ttl=30.0), TaskStore(db)
    run_id = start_run(runs, width)
    # One spare replayer beyond those the steps use, to finish the run afterwards.
    model = Model(
        db, runs, tasks, run_id, [Replayer(f"r{i}") for i in range(replayers + 1)], width=width
    )
    try:
        for op, i in steps:
            model.step(op, i)
        model.drain()
    finally:
        note("\n".join(model.log))
    assert_final(db, runs, run_id, width)
    assert model.completions == width + 2
    event(f"fenced-out commits: {min(model.fenced, 3)}{'+' if model.fenced >= 3 else ''}")


def test_the_staged_example_really_fences_out_stale_commits(db: Database) -> None:
    """Guards the property test's premise: the staged interleaving hits both fences.

    (It was staged when every completion woke the run; a gather's completions but
    the last now land without a wakeup, so the activity that landed mid-replay here
    is staged in the next test.)
    """
    runs, tasks = RunStore(db, lease_ttl=30.0), TaskStore(db)
    run_id = start_run(runs, 2)
    model = Model(db, runs, tasks, run_id, [Replayer(f"r{i}") for i in range(3)], width=2)
    for op, i in STOLEN:
        model.step(op, i)
    assert model.fenced >= 2, model.log  # the stolen lease and the released one
    assert model.absorbed == 1, model.log
    model.drain()
    assert_final(db, runs, run_id, 2)


def test_a_gathers_completions_land_without_waking_the_run_until_the_last(db: Database) -> None:
    """Fan-in: completions that cannot move the gather are absorbed (no wake marker,
    no replay), and the run still finishes with the same history."""
    runs, tasks = RunStore(db, lease_ttl=30.0), TaskStore(db)
    run_id = start_run(runs, 3)
    model = Model(db, runs, tasks, run_id, [Replayer(f"r{i}") for i in range(3)], width=3)
    model.acquire(0)
    model.replay(0)
    model.commit(0)  # the side effect and the first step
    model.complete(0)
    model.acquire(0)
    model.replay(0)
    model.commit(0)  # the gather of 3: the run now needs 3 completions
    assert model.awaiting == 3, model.log
    model.complete(0)  # absorbed: 2 to go
    assert not model.wake and run_row(db, run_id).wake_at is None, model.log
    model.complete(0)  # absorbed: 1 to go
    model.complete(0)  # the last one wakes the run
    assert model.absorbed == 2 and model.wake, model.log
    model.drain()
    assert_final(db, runs, run_id, 3)


def test_input_marked_for_a_wakeup_voids_the_count(db: Database) -> None:
    """Other input (a signal, a timer) marks the run for a wakeup and clears its
    count: a completion landing while that wakeup replays is not absorbed, and the
    replay's commit sees it (``again``)."""
    runs, tasks = RunStore(db, lease_ttl=30.0), TaskStore(db)
    run_id = start_run(runs, 3)
    model = Model(db, runs, tasks, run_id, [Replayer(f"r{i}") for i in range(3)], width=3)
    for op in ("acquire", "replay", "commit", "complete", "acquire", "replay", "commit"):
        model.step(op, 0)
    model.complete(0)  # absorbed: 2 to go
    with db.engine.begin() as conn:  # what delivering a signal does to the run row
        mark_wake(conn, run_id, int(run_row(db, run_id).last_seq))
    model.wake, model.awaiting = True, None
    model.acquire(1)
    model.replay(1)
    model.complete(0)  # lands mid-replay, and marks the run again
    assert model.absorbed == 1 and not model.log[-1].endswith("(absorbed)"), model.log
    model.commit(1)
    assert model.log[-1].endswith("(again)"), model.log
    model.drain()
    assert_final(db, runs, run_id, 3)


# --- real threads ---------------------------------------------------------------------


class QueuePublisher:
    """Stands in for the broker: activity messages go to a queue, wakeups are dropped."""

    def __init__(self) -> None:
        self.activities: queue.Queue[TaskMessage] = queue.Queue()
        self.published: list[TaskMessage] = []
        self.advances = 0

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advances += 1

    def publish_activity(self, message: TaskMessage) -> None:
        self.published.append(message)
        self.activities.put(message)


class RecordingRunStore(RunStore):
    """Counts commits that won and that were fenced out, with what each decided."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, lease_ttl=30.0)
        self.lock = threading.Lock()
        self.won: list[Decision] = []
        self.fenced: list[Decision] = []
        self.errors: list[FencingError] = []

    def commit_decision(
        self, lease: Lease, decision: Decision, inline: InlineOffer | None = None
    ) -> CommitResult:
        try:
            result = super().commit_decision(lease, decision, inline)
        except FencingError as error:
            with self.lock:
                self.fenced.append(decision)
                self.errors.append(error)
            raise
        with self.lock:
            self.won.append(decision)
        return result


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    threads=st.integers(min_value=2, max_value=4),
    width=st.integers(min_value=1, max_value=6),
    steal=st.booleans(),
)
def test_racing_advancers_on_threads(db: Database, threads: int, width: int, steal: bool) -> None:
    runs = RecordingRunStore(db)
    tasks = TaskStore(db)
    publisher = QueuePublisher()
    registry = new_registry()
    run_id = start_run(runs, width)
    done = threading.Event()
    errors: list[BaseException] = []
    advanced: Counter[str] = Counter()

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                done.set()

        return run

    def advancing(owner: str) -> None:
        advancer = Advancer(runs, registry, publisher, SystemSources(), owner)  # type: ignore[arg-type]
        while not done.is_set():
            if advancer.advance(run_id):
                advanced[owner] += 1
            time.sleep(random.uniform(0, 0.002))

    def performing() -> None:
        while not done.is_set():
            try:
                message = publisher.activities.get(timeout=0.01)
            except queue.Empty:
                continue
            claim = tasks.claim(message.task_id, message.attempt, message.activity)
            if isinstance(claim, str):
                continue
            time.sleep(random.uniform(0, 0.003))
            tasks.complete(claim, body(*claim.args))

    def stealing() -> None:
        while not done.is_set():
            time.sleep(random.uniform(0.001, 0.01))
            expire_lease(db, run_id)

    workers = [guarded(lambda o=f"t{i}": advancing(o)) for i in range(threads)]
    workers += [guarded(performing), guarded(performing)]
    if steal:
        workers.append(guarded(stealing))
    started = [threading.Thread(target=w, daemon=True) for w in workers]
    for thread in started:
        thread.start()
    deadline = time.monotonic() + 30
    try:
        while not done.is_set() and run_row(db, run_id).state == "running":
            assert time.monotonic() < deadline, f"run still running: {runs.history(run_id)}"
            time.sleep(0.01)
    finally:
        done.set()
        for thread in started:
            thread.join(10)
    assert not errors, errors
    note(f"advances per thread {dict(advanced)}, fenced {len(runs.fenced)}")
    event(f"steal={steal}, fenced-out commits: {'some' if runs.fenced else 'none'}")

    history = assert_final(db, runs, run_id, width)
    decisions = [e for e in history if e.type in DECISION_TYPES]
    assert sum(len(d.commands) for d in runs.won) == len(decisions), (
        "every decision event came from exactly one winning commit"
    )
    # A stolen lease is LeaseLost; a thief that finished the run first, RunNotActive.
    assert all(isinstance(e, (LeaseLost, RunNotActive)) for e in runs.errors), runs.errors
    recorded = {e.data.get("value") for e in history if e.type == "side_effect"}
    for decision in runs.fenced:  # a fenced-out replay's own side effect is nowhere
        for command in decision.commands:
            if command.type == "side_effect":
                assert command.data["value"] not in recorded
    scheduled = {e.data["task_id"] for e in history if e.type == "activity_scheduled"}
    assert {m.task_id for m in publisher.published} == scheduled, (
        "only winning commits publish, and each published task is journaled"
    )
    assert len(publisher.published) == len(scheduled)


def test_a_suspended_replay_of_a_partial_history_decides_only_new_commands(
    db: Database,
) -> None:
    """Sanity check of the helpers: a fresh run suspends on the first step."""
    runs = RunStore(db)
    run_id = start_run(runs, 1)
    lease = runs.acquire(run_id, "probe")
    assert lease is not None
    decision = decide(lease)
    assert isinstance(decision.outcome, Suspended)
    assert [c.type for c in decision.commands] == ["side_effect", "activity_scheduled"]
    runs.release(lease)


def test_a_fan_out_is_published_once_not_again_by_upkeep(db: Database) -> None:
    """Each task of a 1,000-wide fan-out is available and published at one instant.

    Upkeep publishes again a ready task whose publish is older than its
    availability (an attempt published before its retry); two readings of the
    clock in one INSERT made that true for a few percent of a fan-out's tasks, each
    then sent twice.
    """
    runs, tasks = RunStore(db, lease_ttl=30.0), TaskStore(db)
    run_id = start_run(runs, 1000)
    model = Model(db, runs, tasks, run_id, [Replayer("r0"), Replayer("r1")], width=1000)
    for op in ("acquire", "replay", "commit", "complete", "acquire", "replay", "commit"):
        model.step(op, 0)
    assert model.awaiting == 1000, model.log
    with db.engine.connect() as conn:
        ready, early = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE published_at < available_at)"
                " FROM cx_tasks WHERE run_id = :id AND state = 'ready'"
            ),
            {"id": run_id},
        ).one()
    assert (ready, early) == (1000, 0)
    assert SweepStore(db).tasks_to_publish(stale_after=30.0, cap=300.0, limit=5000) == []
