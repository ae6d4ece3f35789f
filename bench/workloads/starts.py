"""Starts: N one-step workflows, ``.delay()`` each, then wait for all.

The peer is a plain Celery task with the Redis result backend: ``.delay()`` N times,
then ``.get()`` each result. Both clocks run from the first call to the last result
(continuum: the last run's ``completed_at``); workflows/s is N over that.
"""

from __future__ import annotations

import time
from typing import Any

from bench.workloads import base, dbos_peers
from bench.workloads.base import Ctx


def _tasks(n: int) -> float:
    import bench.apps.shapes_plain as mod

    t0 = time.time()
    results = [mod.result_step.delay(i) for i in range(n)]
    for result in results:
        result.get(timeout=60 + n)
    return time.time() - t0


def _workflows(client: base.CxClient, n: int) -> float:
    t0 = time.time()
    ids = [str(client.mod.one_step.delay(i).run_id) for i in range(n)]
    return client.wait(ids, 60 + n) - t0


def starts(ctx: Ctx) -> dict[str, Any]:
    n = ctx.units(1000, 10)
    base.log(f"workload starts: {n} one-step workflows vs tasks with .get()")
    with base.workers(ctx, base.PLAIN_APP):
        _tasks(10)
        peer_s, peer = base.counted(ctx, n, lambda: _tasks(n))
    client = base.CxClient(ctx)
    try:
        with base.workers(ctx, base.CX_APP, [client.mod.QUEUE]):
            _workflows(client, 10)
            ours_s, ours = base.counted(ctx, n, lambda: _workflows(client, n), client)
    finally:
        client.close()
    ours |= {"elapsed_s": ours_s, "per_s": n / ours_s}
    peer |= {"elapsed_s": peer_s, "per_s": n / peer_s}
    return {
        "unit": "workflow",
        "size": str(n),
        "continuum": ours,
        "peer": peer,
        "peer_name": "celery task .delay().get(), Redis result backend",
        "ratio": base.ratio(ours["per_s"], peer["per_s"]),
        "dbos": dbos_peers.starts(ctx, n, ours),
    }
