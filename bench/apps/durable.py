"""The continuum_celery side: one workflow of S sequential no-op activities.

Configured like a deployment: ``CONTINUUM_DATABASE_URL`` and ``CELERY_BROKER_URL``.
Continuum runs with its defaults (lease 30 s, upkeep every 1 s, default upkeep
settings), with the upkeep driven by the ``-B`` worker.
"""

from __future__ import annotations

from bench.apps.common import make_app
from bench.apps.common import step as step_body
from continuum_celery import Continuum

app = make_app("bench_durable", queue="bench-durable")
cx = Continuum(app)


@cx.activity(name="bench.durable.step")
def step(i: int) -> int:
    return step_body(i)


@cx.workflow(name="bench.durable.flow")
def flow(steps: int) -> int:
    for i in range(steps):
        step(i)
    return steps
