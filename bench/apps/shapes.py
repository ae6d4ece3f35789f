"""The continuum_celery side of the workloads mode (``python -m bench.run --workload``).

One app on its own queue (``bench-shapes``) with the no-op activity and one workflow
per shape: sequential steps (the message path runs it with ``inline_budget=0`` from
``$BENCH_CONTINUUM_OPTIONS``), steps alternating between the queues ``a`` and ``b``,
a fan-out gathered at once, a one-step workflow, a run parked on a signal, and a
durable sleep. Configured like ``bench.apps.durable``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.apps.common import make_app
from bench.apps.common import step as step_body
from continuum_celery import Continuum, workflow

QUEUE = "bench-shapes"
ALTERNATE = ("a", "b")
SIGNAL = "go"
OPTIONS_ENV = "BENCH_CONTINUUM_OPTIONS"

app = make_app("bench_shapes", queue=QUEUE)
cx = Continuum(app, **json.loads(os.environ.get(OPTIONS_ENV) or "{}"))


@cx.activity(name="bench.shapes.step")
def step(i: int) -> int:
    return step_body(i)


@cx.workflow(name="bench.shapes.sequence")
def sequence(steps: int) -> int:
    for i in range(steps):
        step(i)
    return steps


@cx.workflow(name="bench.shapes.alternating")
def alternating(steps: int) -> int:
    """Each step on the other queue: ``a``, ``b``, ``a``, ..."""
    for i in range(steps):
        step.options(queue=ALTERNATE[i % 2])(i)
    return steps


@cx.workflow(name="bench.shapes.fanout")
def fanout(n: int) -> int:
    return len(workflow.gather(*[step.start(i) for i in range(n)]))


@cx.workflow(name="bench.shapes.one_step")
def one_step(i: int) -> int:
    return int(step(i))


@cx.workflow(name="bench.shapes.await_signal")
def await_signal(i: int) -> Any:
    return workflow.wait_signal(SIGNAL)


@cx.workflow(name="bench.shapes.nap")
def nap(seconds: float) -> float:
    workflow.sleep(seconds)
    return seconds
