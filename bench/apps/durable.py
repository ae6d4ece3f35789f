"""The continuum_celery side: one workflow of S sequential no-op activities.

Configured like a deployment: ``CONTINUUM_DATABASE_URL`` and ``CELERY_BROKER_URL``.
Continuum runs with its defaults (lease 30 s, upkeep every 1 s, default upkeep
settings, eager continuation, inline dispatch and resident instances on), with
upkeep inside the workers (no ``-B``); ``$BENCH_CONTINUUM_OPTIONS`` (JSON keyword
arguments for ``Continuum``) overrides them.
"""

from __future__ import annotations

import json
import os

from bench.apps.common import make_app
from bench.apps.common import step as step_body
from continuum_celery import Continuum

OPTIONS_ENV = "BENCH_CONTINUUM_OPTIONS"

app = make_app("bench_durable", queue="bench-durable")
# Switching optimizations off shows what each buys, e.g.
# BENCH_CONTINUUM_OPTIONS='{"inline_budget": 0, "eager": false}'.
cx = Continuum(app, **json.loads(os.environ.get(OPTIONS_ENV) or "{}"))


@cx.activity(name="bench.durable.step")
def step(i: int) -> int:
    return step_body(i)


@cx.workflow(name="bench.durable.flow")
def flow(steps: int) -> int:
    for i in range(steps):
        step(i)
    return steps
