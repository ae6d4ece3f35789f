"""The one-step workflow whose seeded runs ``bench.replay_check`` replays."""

from __future__ import annotations

import os

from celery import Celery

from continuum_celery import Continuum

app = Celery("replayed", set_as_current=False)
cx = Continuum(app, database_url=os.environ.get("CONTINUUM_DATABASE_URL"), worker_upkeep=False)


@cx.activity(name="bench.step")
def step(n: int) -> int:
    return n


@cx.workflow(name="bench.one")
def one(n: int) -> int:
    return int(step(n))
