"""The DBOS peer's runtime in the workloads mode: one DBOS instance for the whole run.

DBOS keeps a single global instance per process, so it is launched once, on first use,
on its own system database ``env.dbos_name`` (added to the probe's databases so its
commits are counted like continuum's), and destroyed when the workloads are done.
Counted windows on it are the same as continuum's (``base.counted``), read on its
database. The bench's own reads of DBOS's tables (completion times, wake times,
parked runs) happen outside the windows, so no window counts them.

Nothing here imports ``dbos`` at import time: without it, every workload reports
the peer as skipped.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from bench.apps.common import install_counters
from bench.workloads import base
from bench.workloads.base import Ctx

T = TypeVar("T")
Measure = Callable[["DbosSide"], dict[str, Any]]


class DbosSide:
    """Launches DBOS lazily; ``close`` destroys it and drops nothing (the run's
    database clean-up drops ``env.dbos_name`` with the rest)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.shapes: Any = None
        self.conn: psycopg.Connection[Any] | None = None
        self.deferred: list[tuple[dict[str, Any], Measure, Callable[..., float | None]]] = []
        """Each workload's peer, measured by ``run_deferred`` once all else is done."""

    def run_deferred(self) -> None:
        """Measure every deferred peer, filling in the entry its workload returned."""
        for entry, measure, ratio in self.deferred:
            result = _measure(self, measure, ratio)
            entry.clear()
            entry.update(result)
        self.deferred.clear()

    def skipped(self) -> dict[str, str] | None:
        if self.ctx.args.no_dbos:
            return {"skipped": "--no-dbos"}
        try:
            import bench.dbos_shapes  # noqa: F401
        except ImportError as error:
            return {"skipped": f"dbos not importable ({error}); pip install dbos to include it"}
        return None

    def start(self) -> Any:
        """The launched ``bench.dbos_shapes``; the first call creates the database."""
        if self.shapes is None:
            import bench.dbos_shapes as shapes

            env = self.ctx.env
            env.create_database(env.dbos_name)
            self.ctx.probe.databases.append(env.dbos_name)
            install_counters()  # DBOS's statements count like the apps' (before its pool)
            base.log(f"dbos: in-process, database {env.dbos_name}")
            shapes.launch(env.db_url(env.dbos_name))
            self.shapes = shapes
        return self.shapes

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.shapes is not None:
            self.shapes.destroy()
            self.shapes = None

    def counted(self, units: int, work: Callable[[], T]) -> tuple[T, dict[str, Any]]:
        return base.counted(self.ctx, units, work, database=self.ctx.env.dbos_name)

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read of DBOS's tables; only ever between counted windows."""
        if self.conn is None:
            self.conn = psycopg.connect(self.ctx.env.db_url(self.ctx.env.dbos_name))
        try:
            return self.conn.execute(query, params).fetchall()
        finally:
            self.conn.rollback()


def peer(ctx: Ctx, measure: Measure, ratio: Callable[[dict[str, Any]], float | None]) -> Any:
    """The workload's ``"dbos"`` entry: skipped, or filled in by ``run_deferred``.

    DBOS runs in the bench process and keeps background threads (its pollers) once
    launched, which would take CPU and the GIL from the bench's continuum client in
    every later window; so every workload's DBOS peer runs after all the others'.
    """
    side: DbosSide = ctx.dbos
    if side is None or (skip := side.skipped()):
        return skip or {"skipped": "no DBOS runtime in this run"}
    entry: dict[str, Any] = {"pending": "measured after every other system"}
    side.deferred.append((entry, measure, ratio))
    return entry


def _measure(side: DbosSide, measure: Measure, ratio: Callable[..., float | None]) -> Any:
    """``measure``'s numbers and ratio; an error is reported, not raised, so a long
    run keeps its other results."""
    base.log(f"dbos peer: {measure.__qualname__.split('.')[0]}")
    try:
        side.start()
        result = measure(side)
    except Exception as error:
        base.log(f"dbos peer failed:\n{traceback.format_exc()}")
        return {"error": f"{type(error).__name__}: {error}"}
    return result | {"ratio": ratio(result)}
