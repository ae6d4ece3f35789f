"""What the soak will do, decided up front from the seed: which runs to submit when
(with the result each must end with), and when to misbehave."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SHAPES = ["chained"] * 3 + ["parallel"] * 3 + ["timer"] * 2 + ["signal"] * 2 + ["mixed"]


@dataclass
class Planned:
    run_id: str
    workflow: str
    args: list[Any]
    submit_at: float
    expected: Any = None
    signal_payload: Any = None
    signal_at: float | None = None
    submitted: bool = False
    signalled: bool = False


def _chained(run: Planned, n: int, rng: random.Random) -> None:
    length = rng.randint(2, 5)
    run.args, run.expected = [f"r{n}", length], sum(range(length))


def _parallel(run: Planned, n: int, rng: random.Random) -> None:
    width = rng.randint(2, 6)
    run.args, run.expected = [f"r{n}", width], sum(range(width))


def _timer(run: Planned, n: int, rng: random.Random) -> None:
    run.args, run.expected = [f"r{n}", round(rng.uniform(0.2, 2.0), 2)], 3


def _signal(run: Planned, n: int, rng: random.Random) -> None:
    run.args = [f"r{n}"]
    run.signal_payload = {"n": n}
    run.expected = run.signal_payload


def _mixed(run: Planned, n: int, rng: random.Random) -> None:
    width = rng.randint(1, 3)
    run.args = [f"r{n}", width]
    run.signal_payload = f"go-{n}"
    run.expected = ["a", list(range(width)), run.signal_payload]


SHAPE_ARGS: dict[str, Callable[[Planned, int, random.Random], None]] = {
    "chained": _chained,
    "parallel": _parallel,
    "timer": _timer,
    "signal": _signal,
    "mixed": _mixed,
}
"""Each shape's arguments and expected result, as the workflows in soak_app compute it."""


def plan(runs: int, window: float, rng: random.Random) -> list[Planned]:
    """``runs`` runs of random shapes, submitted evenly over ``window`` seconds."""
    return [planned_run(n, window * n / max(runs, 1), rng) for n in range(runs)]


def planned_run(n: int, at: float, rng: random.Random) -> Planned:
    shape = rng.choice(SHAPES)
    run = Planned(str(uuid.uuid4()), f"soak.{shape}", [], at)
    SHAPE_ARGS[shape](run, n, rng)
    if run.signal_payload is not None:
        # Some signals arrive before the workflow waits (buffered), some after.
        run.signal_at = at + rng.uniform(0.0, 4.0)
    return run


@dataclass
class Chaos:
    at: float
    action: str
    worker: int | None = None
    done: bool = False


def chaos_plan(window: float, workers: int, kill_every: float, rng: random.Random) -> list[Chaos]:
    """A kill every ``kill_every`` seconds or so, one broker flush, one Postgres restart."""
    events = []
    t = 1.5
    while t < window:
        events.append(Chaos(t, "kill", rng.randrange(workers)))
        t += rng.uniform(0.5, 1.5) * kill_every
    events.append(Chaos(window * 0.35, "flush"))
    events.append(Chaos(window * 0.6, "pg-restart"))
    return sorted(events, key=lambda e: e.at)
