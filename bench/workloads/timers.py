"""Timer lateness: N runs each ``workflow.sleep`` ``TIMER_S`` seconds or a little more.

Durations are spread over ``SPREAD_S`` seconds (``--quick``: a quarter of both) so the
timers come due at a steady rate. Lateness is ``timer_fired`` (the event's
``created_at``) minus the ``fires_at`` the run journaled with ``timer_started``: p50
and p99. The peer is a Celery task sent with ``eta`` the same distance ahead: the time
it starts minus its ``eta``.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from bench.metrics import percentile
from bench.reads import scored
from bench.workloads import base, dbos_peers
from bench.workloads.base import Ctx

TIMER_S = 2.0
SPREAD_S = 2.0
QUICK_S = 0.5  # --quick: timers of 0.5-1 s, and no warm-up wait
LATE_KEY = "bench:shapes:late"


def _delays(n: int, first: float) -> list[float]:
    """``first`` to ``first + spread``, evenly: the timers come due at a steady rate."""
    spread = SPREAD_S * first / TIMER_S
    return [first + spread * i / n for i in range(n)]


def _summary(lateness_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(lateness_ms, 50), "p99_ms": percentile(lateness_ms, 99)}


def _celery(ctx: Ctx, delays: list[float]) -> list[float]:
    import bench.apps.shapes_plain as mod

    r = redis.Redis.from_url(ctx.env.broker_url)
    r.delete(LATE_KEY)
    for delay in delays:
        eta = time.time() + delay
        mod.late.apply_async(
            (eta, LATE_KEY, uuid.uuid4().hex), eta=datetime.fromtimestamp(eta, UTC)
        )
    deadline = time.monotonic() + 60 + max(delays)
    while r.zcard(LATE_KEY) < len(delays):
        if time.monotonic() > deadline:
            raise TimeoutError(f"eta tasks: {r.zcard(LATE_KEY)}/{len(delays)} ran")
        time.sleep(0.05)
    return [1000 * s for _, s in scored(r, LATE_KEY)]


def _continuum(client: base.CxClient, delays: list[float]) -> list[float]:
    ids = [client.start(client.mod.nap, delay) for delay in delays]
    client.wait(ids, 60 + len(ids) + max(delays))
    rows = client.query(
        "SELECT 1000 * extract(epoch FROM f.created_at - (s.data->>'fires_at')::timestamptz)"
        " FROM cx_events s JOIN cx_events f ON f.run_id = s.run_id"
        " AND f.command_id = s.command_id AND f.type = 'timer_fired'"
        " WHERE s.type = 'timer_started' AND s.run_id = ANY(%s::text[])",
        (ids,),
    )
    return [float(r[0]) for r in rows]


def timers(ctx: Ctx) -> dict[str, Any]:
    n = ctx.units(500, 10)
    delays = _delays(n, QUICK_S if ctx.args.quick else TIMER_S)
    base.log(f"workload timers: {n} timers of {delays[0]}-{delays[-1]:.2f} s, eta tasks first")
    with base.workers(ctx, base.PLAIN_APP):
        peer_ms, peer = base.counted(ctx, n, lambda: _celery(ctx, delays))
    client = base.CxClient(ctx)
    try:
        with base.workers(ctx, base.CX_APP, [client.mod.QUEUE]):
            _continuum(client, [0.05] * 3)
            ours_ms, ours = base.counted(ctx, n, lambda: _continuum(client, delays), client)
    finally:
        client.close()
    ours |= {"lateness": _summary(ours_ms)}
    peer |= {"lateness": _summary(peer_ms)}
    return {
        "unit": "timer",
        "size": str(n),
        "continuum": ours,
        "peer": peer,
        "peer_name": "celery task with eta",
        "ratio": base.ratio(peer["lateness"]["p99_ms"], ours["lateness"]["p99_ms"]),
        "dbos": dbos_peers.timers(ctx, delays, ours),
    }
