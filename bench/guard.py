"""What the determinism guard costs per step, measured in-process, on and off.

    python -m bench.guard                      # 20 x 200 steps, best of 5
    python -m bench.guard --steps 500 --reps 9

A worker's step resumes the run's resident instance with two new events and runs
the workflow to its next activity call: that is the part the guard can touch,
and it is timed here alone, with no database or broker around it, so that a
difference of a few microseconds is not lost in the noise of a whole step. The
same workflow runs with ``guarded=True`` and ``False``, interleaved, best of
``--reps``. Three workloads:

- ``noop``: the bench workflow (``for i in range(S): step(i)``), the fast path;
- ``busy``: the same, plus 50 pure-Python calls of its own per step (user code
  is what the profile function sees);
- ``library``: the same, plus a ``json.dumps`` and a ``logging`` call per step
  (library code under workflow code is seen too).

It also times the alternative the guard does not use: wrapping ``time.time`` in
a function that checks a ``ContextVar``, which every caller in the process would
pay for, workflow or not.

The end-to-end comparison with real workers is ``python -m bench.run --guard-off``.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from continuum_celery.definitions import Activity, ActivityOptions
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.residents import ResidentCache

STEP = Activity(lambda i: i, "bench.guard.step", ActivityOptions())
quiet = logging.getLogger("bench.guard.quiet")
quiet.setLevel(logging.CRITICAL)


class Live:
    def now(self) -> Any:
        raise AssertionError("not used")

    def uuid4(self) -> str:
        raise AssertionError("not used")

    def random(self) -> float:
        raise AssertionError("not used")


def noop(steps: int) -> int:
    for i in range(steps):
        STEP(i)
    return steps


def _own(x: int) -> int:
    return x + 1


def busy(steps: int) -> int:
    for i in range(steps):
        total = 0
        for j in range(50):
            total = _own(total + j)
        STEP(i)
    return steps


def library(steps: int) -> int:
    for i in range(steps):
        json.dumps({"i": i, "items": [1, 2, 3]})
        quiet.debug("step %s", i)
        STEP(i)
    return steps


WORKLOADS: dict[str, Callable[[int], int]] = {"noop": noop, "busy": busy, "library": library}


def run_once(fn: Callable[[int], int], steps: int, guarded: bool) -> float:
    """Seconds per step of deciding a whole run, step after step, as a worker does."""
    cache, live = ResidentCache(), Live()
    info = WorkflowInfo(f"run-{guarded}", "bench.guard")
    history: list[Event] = []
    elapsed = 0.0
    for _ in range(steps + 1):
        started = time.perf_counter()
        decision = cache.decide(fn, [steps], {}, history, info, live, guarded=guarded)
        elapsed += time.perf_counter() - started
        for command in decision.commands:
            seq = len(history) + 1
            history.append(Event(seq, command.type, command.command_id, command.data))
            history.append(Event(seq + 1, "activity_completed", command.command_id,
                                 {"activity": STEP.name, "attempt": 1, "result": 0}))  # fmt: skip
    cache.clear()
    return elapsed / steps


def compare(fn: Callable[[int], int], steps: int, reps: int) -> dict[str, float]:
    best = {True: float("inf"), False: float("inf")}
    for _ in range(reps):
        for guarded in (False, True):
            best[guarded] = min(best[guarded], run_once(fn, steps, guarded))
    off, on = best[False] * 1e6, best[True] * 1e6
    return {"off_us": off, "on_us": on, "cost_us": on - off, "ratio": on / off}


def wrapper_cost(calls: int = 200_000) -> dict[str, float]:
    """Nanoseconds per ``time.time()`` call, plain and behind a ContextVar check."""
    flag: contextvars.ContextVar[bool] = contextvars.ContextVar("in_workflow", default=False)
    plain = time.time

    def wrapped() -> float:
        if flag.get():
            raise RuntimeError("in workflow")
        return plain()

    out = {}
    for name, fn in (("plain_ns", plain), ("wrapped_ns", wrapped)):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        out[name] = (time.perf_counter() - started) / calls * 1e9
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guard", description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--output", help="write the numbers as JSON here too")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        name: compare(fn, args.steps, args.reps) for name, fn in WORKLOADS.items()
    }
    results["time_time_wrapper"] = wrapper_cost()
    print(f"decide() per step, {args.steps} steps, best of {args.reps}:")
    print(f"{'workload':<10} {'guard off us':>13} {'guard on us':>12} {'cost us':>8} {'ratio':>6}")
    for name in WORKLOADS:
        r = results[name]
        print(f"{name:<10} {r['off_us']:>13.1f} {r['on_us']:>12.1f} {r['cost_us']:>8.1f}"
              f" {r['ratio']:>5.2f}x")  # fmt: skip
    w = results["time_time_wrapper"]
    print(f"time.time(): {w['plain_ns']:.0f} ns plain, {w['wrapped_ns']:.0f} ns behind a"
          " ContextVar-checking wrapper (paid by every caller in the process)")  # fmt: skip
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
