"""Sequential steps off the fast path: the message path and alternating queues.

``message``: W workflows of S steps with ``inline_budget=0``, so every activity is a
broker message (what Flower sees), against a plain chain of S tasks.
``queues``: the same W x S with each step on the other of two queues (``a``, ``b``;
the workers consume ``-Q <default>,a,b``), against a chain whose tasks alternate the
same way. Both submit every workflow at once; steps/s is W·S over first submit to
last completion.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis
from celery import chain

from bench.reads import scored
from bench.workloads import base, dbos_peers
from bench.workloads.base import Ctx

DONE_KEY = "bench:shapes:chains"


def _chain(mod: Any, steps: int, chain_id: str, queues: tuple[str, ...] | None) -> Any:
    sigs = [mod.step.si(i) for i in range(steps - 1)]
    sigs.append(mod.done.si(steps - 1, DONE_KEY, chain_id))
    if queues:
        sigs = [s.set(queue=queues[i % 2]) for i, s in enumerate(sigs)]
    return chain(*sigs)


def _plain(ctx: Ctx, workflows: int, steps: int, queues: tuple[str, ...] | None) -> dict[str, Any]:
    import bench.apps.shapes_plain as mod

    r = redis.Redis.from_url(ctx.env.broker_url)
    consume = [mod.QUEUE, *(queues or ())]

    def run(n: int) -> float:
        r.delete(DONE_KEY)
        t0 = time.time()
        for _ in range(n):
            _chain(mod, steps, uuid.uuid4().hex, queues).apply_async()
        deadline = time.monotonic() + 60 + n * steps
        while r.zcard(DONE_KEY) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"chains: {r.zcard(DONE_KEY)}/{n} done")
            time.sleep(0.01)
        return max(s for _, s in scored(r, DONE_KEY)) - t0

    with base.workers(ctx, base.PLAIN_APP, consume):
        run(ctx.args.warmup)
        elapsed, counts = base.counted(ctx, workflows * steps, lambda: run(workflows))
    return counts | {"elapsed_s": elapsed, "per_s": workflows * steps / elapsed}


def _continuum(
    ctx: Ctx, workflows: int, steps: int, shape: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    client = base.CxClient(ctx)
    queues = [client.mod.QUEUE, *client.mod.ALTERNATE]
    flow = getattr(client.mod, shape)

    def run(n: int) -> float:
        t0 = time.time()
        ids = [client.start(flow, steps) for _ in range(n)]
        return client.wait(ids, 60 + n * steps) - t0

    extra: dict[str, Any] = {}
    try:
        with base.workers(ctx, base.CX_APP, queues, options) as proc:
            run(ctx.args.warmup)
            with base.profiled(ctx, proc, extra):
                elapsed, counts = base.counted(
                    ctx, workflows * steps, lambda: run(workflows), client
                )
    finally:
        client.close()
    return counts | extra | {"elapsed_s": elapsed, "per_s": workflows * steps / elapsed}


def _compare(
    ctx: Ctx, name: str, shape: str, options: dict[str, Any] | None, alternate: bool
) -> dict[str, Any]:
    w = ctx.args.workflows
    s = ctx.args.steps
    base.log(f"workload {name}: {w} x {s} steps, chain then continuum {options or ''}")
    peer = _plain(ctx, w, s, ("a", "b") if alternate else None)
    ours = _continuum(ctx, w, s, shape, options)
    return {
        "unit": "step",
        "size": f"{w}x{s}",
        "continuum": ours,
        "peer": peer,
        "peer_name": "celery chain" + (", alternating queues" if alternate else ""),
        "ratio": base.ratio(ours["per_s"], peer["per_s"]),
        "dbos": dbos_peers.sequential(ctx, w, s, alternate, ours),
    }


def message(ctx: Ctx) -> dict[str, Any]:
    return _compare(ctx, "message", "sequence", {"inline_budget": 0}, alternate=False)


def queues(ctx: Ctx) -> dict[str, Any]:
    return _compare(ctx, "queues", "alternating", None, alternate=True)
