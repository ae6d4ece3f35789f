"""Drive runs through a resident cache, checking every decision against replay().

:class:`LockstepDriver` is the in-memory journal of ``driver.py`` with one change:
each decision comes from a :class:`ResidentCache` and must equal what a replay
from the top of the same history decides. Each side gets its own ``FakeLive``;
both consult it for the same new effects, so they stay in step.

:func:`build` turns a list of ops into a workflow covering every effect, and
:func:`settle` runs it to the end, resolving waits in a seeded random order.
"""

from __future__ import annotations

import copy
import random as stdlib_random
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from continuum_celery import workflow
from continuum_celery.engine.commands import Decision, Outcome, Suspended
from continuum_celery.engine.replay import replay
from continuum_celery.engine.residents import ResidentCache
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.errors import ActivityFailed, RunFailed, SignalTimeout
from tests.unit.driver import Driver, FakeLive, StuckError, activity


class LockstepDriver(Driver):
    def __init__(self, *args: Any, cache: ResidentCache | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = cache if cache is not None else ResidentCache()
        self.twin = FakeLive(self.live.start)

    def replay(self) -> Decision:
        decision = self.cache.decide(
            self.fn, self.args, self.kwargs, self.history, self.info, self.live
        )
        args, kwargs = copy.deepcopy((self.args, self.kwargs))  # replay() lets code mutate them
        expected = replay(self.fn, args, kwargs, self.history, self.info, self.twin)
        assert decision == expected, f"after seq {self.last_seq}"
        self.decisions.append(decision)
        self.outcome = decision.outcome
        return decision

    def run(self, max_steps: int = 500) -> Outcome:
        """As ``Driver.run``, but a continued run has ended too."""
        for _ in range(max_steps):
            before = self.last_seq
            decision = self.step()
            if not isinstance(decision.outcome, Suspended):
                return decision.outcome
            if self.last_seq == before and not (self.auto_fire and self._fire_sleeps()):
                return decision.outcome
        raise StuckError(f"run did not settle in {max_steps} replays")


def _reject(code: int) -> None:
    raise ValueError(f"rejected {code}")


add = activity(lambda a, b: a + b, "math.add")
neg = activity(lambda a: -a, "math.neg")
reject = activity(_reject, "math.reject", retry=RetryPolicy(max_attempts=1))
undo = activity(lambda n: f"undone {n}", "math.undo")


def _neg_or_reject(n: int) -> int:
    if n % 2:
        raise ValueError(f"rejected {n}")
    return -n


neg_or_reject = activity(_neg_or_reject, "math.neg_or_reject", retry=RetryPolicy(max_attempts=1))
ACTIVITIES = [add, neg, reject, undo, neg_or_reject]
CHILD = "tests.child"

Op = tuple[Any, ...]
small = st.integers(-1000, 1000)
signal_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4)
"""What ``cx.signal`` accepts: Postgres cannot store NUL."""
ops = st.one_of(
    st.tuples(st.just("add"), small, small),
    st.tuples(st.just("reject"), small),
    st.tuples(st.just("gather"), st.lists(small, min_size=1, max_size=4)),
    st.tuples(st.just("gather_fail"), st.lists(small, min_size=2, max_size=4)),
    st.tuples(st.just("side"), small),
    st.tuples(st.just("now")),
    st.tuples(st.just("uuid")),
    st.tuples(st.just("random")),
    st.tuples(st.just("sleep"), st.integers(0, 3600)),
    st.tuples(st.just("patched"), st.sampled_from(["p1", "p2"])),
    st.tuples(st.just("log"), st.text("abc %", max_size=5)),
    st.tuples(st.just("signal"), st.one_of(small, signal_text, st.none())),
    st.tuples(st.just("signal_timeout"), small),
    st.tuples(st.just("child"), small),
    st.tuples(st.just("children"), st.integers(1, 3)),
    st.tuples(st.just("saga"), small),
    st.tuples(st.just("compensate"), st.booleans()),
    st.tuples(st.just("guarded"), small),
    st.tuples(st.just("attrs"), small),
)
endings = st.sampled_from(["return", "raise", "continue"])


def build(program: Sequence[Op], ending: str = "return") -> Callable[[], Any]:
    """A workflow that performs ``program`` in order and ends as ``ending`` says."""

    def wf() -> Any:
        seen: list[Any] = []
        for op in program:
            seen.append(_perform(op))
        if ending == "raise":
            raise RuntimeError(f"ended after {len(seen)} ops")
        if ending == "continue":
            workflow.continue_as_new(len(seen))
        return seen

    return wf


def _perform(op: Op) -> Any:
    kind = op[0]
    if kind in _SIMPLE:
        return _SIMPLE[kind](op)
    if kind == "reject":
        try:
            return reject(op[1])
        except ActivityFailed as error:
            return [error.error_type, error.error_message]
    if kind == "gather_fail":
        try:
            return workflow.gather(*[neg_or_reject.start(n) for n in op[1]])
        except ActivityFailed as error:  # journal which failure was seen
            return [error.error_message, add(int(error.error_message.split()[-1]), 0)]
    if kind == "signal_timeout":
        try:
            return workflow.wait_signal("maybe", timeout=30)
        except SignalTimeout:
            return "timed out"
    if kind == "child":
        try:
            return workflow.run_child(CHILD, op[1])
        except RunFailed as error:
            return error.error
    if kind == "children":
        handles = [workflow.start_child(CHILD, n) for n in range(op[1])]
        return [_child_result(h) for h in handles]
    if kind == "guarded":
        try:
            return add(op[1], 1)
        finally:
            workflow.logger.info("left guarded %s", op[1])
    raise AssertionError(kind)


def _upsert(n: int) -> dict[str, Any]:
    """Set ``n``, set or remove ``even``, and show what the code now sees."""
    workflow.upsert_attributes({"n": n, "even": True if n % 2 == 0 else None})
    return workflow.info().attributes


def _child_result(handle: workflow.ChildHandle) -> Any:
    try:
        return handle.result()
    except RunFailed as error:
        return error.error


_SIMPLE: dict[str, Callable[[Op], Any]] = {
    "add": lambda op: add(op[1], op[2]),
    "gather": lambda op: workflow.gather(*[neg.start(n) for n in op[1]]),
    "side": lambda op: workflow.side_effect(lambda: op[1] * 3, name="triple"),
    "now": lambda op: workflow.now().isoformat(),
    "uuid": lambda op: str(workflow.uuid4()),
    "random": lambda op: workflow.random(),
    "sleep": lambda op: workflow.sleep(op[1]),
    "patched": lambda op: workflow.patched(op[1]),
    "attrs": lambda op: _upsert(op[1]),
    "log": lambda op: workflow.logger.info(op[1]),
    "signal": lambda op: workflow.wait_signal("feed"),
    "saga": lambda op: add.options(compensate=undo.bind(op[1]))(op[1], 0),
    "compensate": lambda op: [
        [o.activity, o.ok, o.result, o.error] for o in workflow.compensate_all(parallel=op[1])
    ],
}


def settle(driver: Driver, rng: stdlib_random.Random, max_rounds: int = 500) -> Any:
    """Run to an end, resolving one open wait at a time in a random order."""
    for _ in range(max_rounds):
        outcome = driver.run()
        if not isinstance(outcome, Suspended):
            return outcome
        _resolve_one(driver, outcome.waiting_on, rng)
    raise AssertionError("run did not settle")


def _resolve_one(driver: Driver, waiting: tuple[str, ...], rng: stdlib_random.Random) -> None:
    choices = sorted(driver.held) + [w for w in waiting if not w.startswith("activity:")]
    assert choices, f"stuck waiting on {waiting}"
    command_id = rng.choice(choices)
    ok = rng.random() < 0.7
    if command_id in driver.held:
        driver.run_activity(command_id)
    elif command_id.startswith("child:"):
        kind, data = ("child_completed", {"result": 5}) if ok else ("child_failed", {"error": "E"})
        driver.append(kind, command_id, {"child_run_id": "c"} | data)
    elif command_id.startswith("compensation:"):
        outcome = {"result": "undone"} if ok else {"error_type": "E", "message": "no"}
        driver.append("compensation_completed" if ok else "compensation_failed", command_id,
                      outcome)  # fmt: skip
    elif command_id.startswith("signal:maybe:"):
        if ok:
            driver.signal("maybe", rng.randint(0, 9))
        else:
            driver.fire(command_id)
    else:
        raise AssertionError(f"cannot resolve {command_id}")


def lockstep(
    program: Sequence[Op], ending: str, seed: int, cache: ResidentCache | None = None
) -> LockstepDriver:
    """Settle ``program`` through ``cache``; every decision is checked on the way."""
    driver = LockstepDriver(
        build(program, ending), ACTIVITIES, cache=cache, hold=lambda c: True, auto_fire=True
    )
    for op in program:
        if op[0] == "signal":
            driver.signal("feed", op[1])  # buffered until the workflow waits for it
    settle(driver, stdlib_random.Random(seed))
    return driver
