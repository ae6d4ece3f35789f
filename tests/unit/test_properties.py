"""Random straight-line workflows: run them through the journal, then replay the result."""

from __future__ import annotations

import random as stdlib_random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Decision, Suspended
from continuum_celery.engine.events import DECISION_TYPES
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.errors import ActivityFailed
from tests.unit.driver import START, Driver, FakeLive, activity

add = activity(lambda a, b: a + b, "math.add")
neg = activity(lambda a: -a, "math.neg")


def _reject(code: int) -> None:
    raise ValueError(f"rejected {code}")


reject = activity(_reject, "math.reject", retry=RetryPolicy(max_attempts=1))


def _neg_or_reject(n: int) -> int:
    if n % 2:
        raise ValueError(f"rejected {n}")
    return -n


neg_or_reject = activity(_neg_or_reject, "math.neg_or_reject", retry=RetryPolicy(max_attempts=1))
ACTIVITIES = [add, neg, reject, neg_or_reject]

Op = tuple[Any, ...]
small = st.integers(-1000, 1000)
signal_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4)
"""What ``cx.signal`` accepts: Postgres cannot store NUL."""
ops = st.one_of(
    st.tuples(st.just("add"), small, small),
    st.tuples(st.just("reject"), small),
    st.tuples(st.just("side"), small),
    st.tuples(st.just("now")),
    st.tuples(st.just("uuid")),
    st.tuples(st.just("random")),
    st.tuples(st.just("sleep"), st.integers(0, 3600)),
    st.tuples(st.just("patched"), st.sampled_from(["p1", "p2"])),
    st.tuples(st.just("log"), st.text("abc %", max_size=5)),
    st.tuples(st.just("signal"), st.one_of(small, signal_text, st.none())),
    st.tuples(st.just("gather"), st.lists(small, min_size=1, max_size=5)),
    st.tuples(st.just("gather_fail"), st.lists(small, min_size=2, max_size=4)),
)


def gather_or_note_failure(codes: list[int]) -> Any:
    """Gather; on a failure, journal which one was seen (the next decision depends on it)."""
    try:
        return workflow.gather(*[neg_or_reject.start(n) for n in codes])
    except ActivityFailed as error:
        code = int(error.error_message.split()[-1])
        return ["failed", error.error_message, add(code, 0)]


class OneOfTheFailures:
    """What a gather over several failures may see: whichever of them landed first,
    with the journaled note agreeing with it."""

    def __init__(self, codes: list[int]) -> None:
        self.odd = {n for n in codes if n % 2}

    def __eq__(self, other: object) -> bool:
        return any(other == ["failed", f"rejected {n}", n] for n in self.odd)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<one of the failures {sorted(self.odd)}>"


def build(program: list[Op]) -> Callable[[], list[Any]]:
    """A workflow that performs ``program`` in order and returns what each step saw."""

    def wf() -> list[Any]:
        seen: list[Any] = []
        for op in program:
            kind = op[0]
            if kind == "add":
                seen.append(add(op[1], op[2]))
            elif kind == "reject":
                try:
                    reject(op[1])
                except ActivityFailed as error:
                    seen.append([error.error_type, error.error_message])
            elif kind == "side":
                value = op[1]
                seen.append(workflow.side_effect(lambda v=value: v * 3, name="triple"))
            elif kind == "now":
                seen.append(workflow.now().isoformat())
            elif kind == "uuid":
                seen.append(str(workflow.uuid4()))
            elif kind == "random":
                seen.append(workflow.random())
            elif kind == "sleep":
                workflow.sleep(op[1])
            elif kind == "patched":
                seen.append(workflow.patched(op[1]))
            elif kind == "log":
                workflow.logger.info(op[1])
            elif kind == "signal":
                seen.append(workflow.wait_signal("feed"))
            elif kind == "gather":
                handles = [neg.start(n) for n in op[1]]
                seen.append(workflow.gather(*handles))
            elif kind == "gather_fail":
                seen.append(gather_or_note_failure(op[1]))
        return seen

    return wf


def model(program: list[Op]) -> list[Any]:
    """What the workflow must return, computed without the engine."""
    live = FakeLive()
    seen: list[Any] = []
    for op in program:
        kind = op[0]
        if kind == "add":
            seen.append(op[1] + op[2])
        elif kind == "reject":
            seen.append(["ValueError", f"rejected {op[1]}"])
        elif kind == "side":
            seen.append(op[1] * 3)
        elif kind == "now":
            seen.append(live.now().isoformat())
        elif kind == "uuid":
            seen.append(live.uuid4())
        elif kind == "random":
            seen.append(live.random())
        elif kind == "patched":
            seen.append(True)
        elif kind == "signal":
            seen.append(op[1])
        elif kind == "gather":
            seen.append([-n for n in op[1]])
        elif kind == "gather_fail":
            failing = any(n % 2 for n in op[1])
            seen.append(OneOfTheFailures(op[1]) if failing else [-n for n in op[1]])
    return seen


def run_to_completion(driver: Driver, rng: stdlib_random.Random) -> Any:
    """Settle the run, releasing held activities one at a time in a random order."""
    for _ in range(1000):
        outcome = driver.run()
        if not isinstance(outcome, Suspended):
            return outcome
        assert driver.held, f"stuck waiting on {outcome.waiting_on}"
        driver.run_activity(rng.choice(sorted(driver.held)))
    raise AssertionError("run did not settle")


def settle(program: list[Op], seed: int) -> tuple[Driver, list[Any]]:
    driver = Driver(build(program), ACTIVITIES, hold=lambda command: True, auto_fire=True)
    for op in program:
        if op[0] == "signal":
            driver.signal("feed", op[1])  # buffered until the workflow waits for it
    expected = model(program)
    assert run_to_completion(driver, stdlib_random.Random(seed)) == Completed(expected)
    return driver, expected


def expected_executions(program: list[Op]) -> Counter[str]:
    """Each activity the program calls runs once (none of them retries)."""
    counts: Counter[str] = Counter()
    for op in program:
        if op[0] in ("add", "reject"):
            counts[f"math.{op[0]}"] += 1
        elif op[0] == "gather":
            counts["math.neg"] += len(op[1])
        elif op[0] == "gather_fail":
            counts["math.neg_or_reject"] += len(op[1])
            counts["math.add"] += any(n % 2 for n in op[1])  # the note of what it saw
    return +counts


programs = st.lists(ops, max_size=12)
seeds = st.integers(0, 2**16)


@settings(max_examples=150, deadline=None)
@given(program=programs, seed=seeds)
def test_random_workflows_complete_and_replay_without_new_commands(
    program: list[Op], seed: int
) -> None:
    driver, expected = settle(program, seed)

    history = driver.history
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    scheduled = [e.command_id for e in driver.events("activity_scheduled")]
    resolved = [
        e.command_id for e in history if e.type in ("activity_completed", "activity_failed")
    ]
    assert len(set(scheduled)) == len(scheduled)
    assert len(set(resolved)) == len(resolved) and set(resolved) <= set(scheduled)
    # A gather that failed leaves its other activities pending when the run ends.
    abandoned = set(scheduled) - set(resolved)
    assert all(":math.neg_or_reject:" in command_id for command_id in abandoned)
    executions = expected_executions(program)
    executions["math.neg_or_reject"] -= len(abandoned)
    assert driver.executions == +executions
    assert len(resolved) == sum(driver.executions.values())
    timers = [e.command_id for e in driver.events("timer_started")]
    assert [e.command_id for e in driver.events("timer_fired")] == timers
    assert len(timers) == Counter(op[0] for op in program)["sleep"]

    fresh = FakeLive(start=START + timedelta(days=365))
    again = Driver(build(program), ACTIVITIES, history=history, live=fresh)
    assert again.replay() == Decision([], Completed(expected))
    assert fresh.calls == Counter()
    assert again.history == history


@settings(max_examples=40, deadline=None)
@given(program=st.lists(ops, max_size=8), seed=seeds)
def test_every_prefix_of_a_history_replays_to_the_decisions_that_followed_it(
    program: list[Op], seed: int
) -> None:
    driver, expected = settle(program, seed)
    history = driver.history
    for cut in range(len(history)):
        decision = Driver(build(program), ACTIVITIES, history=history[:cut]).replay()
        following = []
        for event in history[cut:]:
            if event.type not in DECISION_TYPES:
                break
            following.append(event)
        if cut + len(following) == len(history):  # the last batch: the run completes
            assert isinstance(decision.outcome, Completed), (cut, decision.outcome)
            assert len(decision.outcome.result) == len(expected)
        else:
            assert isinstance(decision.outcome, Suspended), (cut, decision.outcome)
        assert [(c.type, c.command_id) for c in decision.commands] == [
            (e.type, e.command_id) for e in following
        ]
        for command, event in zip(decision.commands, following, strict=True):
            if command.type == "activity_scheduled":
                assert command.data == event.data
