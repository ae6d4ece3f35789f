"""The worker bootstep: upkeep inside every ``celery worker``, no beat, no tasks.

It runs in the worker's main process (never in pool processes) and starts after
the pool, so prefork children are forked before its thread exists. Which worker
does each tick's work is settled through Postgres (``runtime/upkeep_loop``), so
any number of workers, with or without ``-B``, cost what one does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from celery import Celery, bootsteps

from .visibility import WORKER


class Background(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


MakeUpkeep = Callable[[str], Background]
"""Builds the upkeep loop for a worker, given its node name (e.g. ``w1@host``)."""


def install_worker_step(app: Celery, make_upkeep: MakeUpkeep | None) -> None:
    """Add the step to ``app``'s worker blueprint; ``None``: upkeep runs elsewhere."""

    class ContinuumStep(bootsteps.StartStopStep):  # type: ignore[misc]
        """Continuum in the worker: remembers what pool processes need, runs upkeep."""

        requires = ("celery.worker.components:Pool",)
        label = "continuum"

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            WORKER.hostname = worker.hostname  # inherited by the forked pool processes
            WORKER.task_events = bool(worker.task_events)

        def create(self, worker: Any) -> Background | None:
            return make_upkeep(worker.hostname) if make_upkeep is not None else None

    app.steps["worker"].add(ContinuumStep)
