"""Workloads beyond the sequential fast path (``python -m bench.run --workload ...``).

Each workload measures continuum_celery and its peer in the same run, one system at a
time on its own worker, and reports the ratio and the cost per unit (commits,
rollbacks, messages). See bench/README.md, "Workloads".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench.metrics import Probe
from bench.workloads.base import Ctx
from bench.workloads.dbos_side import DbosSide
from bench.workloads.fanout import fanout
from bench.workloads.report import render_workloads
from bench.workloads.signals import signals
from bench.workloads.starts import starts
from bench.workloads.steps import message, queues
from bench.workloads.timers import timers

WORKLOADS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "message": message,
    "queues": queues,
    "fanout": fanout,
    "starts": starts,
    "signals": signals,
    "timers": timers,
}
WORKLOAD_NAMES = tuple(WORKLOADS)

__all__ = ["WORKLOAD_NAMES", "parse_workloads", "render_workloads", "run_workloads"]


def parse_workloads(text: str) -> list[str]:
    """``all`` or comma-separated names, in the order given; unknown names are an error."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(WORKLOAD_NAMES)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        raise ValueError(
            f"--workload: unknown {', '.join(unknown) or '(none given)'};"
            f" choose from {', '.join(WORKLOAD_NAMES)} or all"
        )
    return names


def run_workloads(env: Any, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    """Every workload in order, then every workload's DBOS peer (one instance, launched
    when the first one runs), so that DBOS's background threads share no window with
    the other systems."""
    ctx = Ctx(env, probe, args)
    ctx.dbos = DbosSide(ctx)
    try:
        results = {name: WORKLOADS[name](ctx) for name in args.workload}
        ctx.dbos.run_deferred()
        return results
    finally:
        ctx.dbos.close()
