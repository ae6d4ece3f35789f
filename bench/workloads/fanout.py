"""Fan-out: one workflow gathering N no-op activities, against a Celery ``chord``.

continuum: ``workflow.gather(*[step.start(i) for i in range(N)])`` in one run.
*On workers* is the run's ``created_at`` (the start committed) to its
``completed_at``; *end to end* adds the client's start call.

chord: ``chord(result_step.s(i) for i in range(N))(done.s(...))`` with the Redis
result backend. The client publishes all N header tasks itself (its set-up), so *end
to end* runs from before ``apply_async`` to the callback's ``ZADD``, and *on workers*
from the first header task's start (it alone records the time, one ``SET``) to the
callback. Ratios are the peer's time over ours: above 1 means faster.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis
from celery import chord

from bench.workloads import base, dbos_peers
from bench.workloads.base import Ctx

DONE_KEY = "bench:shapes:chords"
MARK_KEY = "bench:shapes:chord-first:{}"


def _chord(ctx: Ctx, n: int) -> dict[str, float]:
    import bench.apps.shapes_plain as mod

    r = redis.Redis.from_url(ctx.env.broker_url)
    chord_id = uuid.uuid4().hex
    mark = MARK_KEY.format(chord_id)
    header = [mod.result_step.s(i, mark if i == 0 else None) for i in range(n)]
    t0 = time.time()
    chord(header)(mod.done.s(DONE_KEY, chord_id))
    t_set_up = time.time()
    deadline = time.monotonic() + 60 + n
    while (done := r.zscore(DONE_KEY, chord_id)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"chord of {n}: no callback")
        time.sleep(0.01)
    first = float(r.get(mark) or t0)
    return {
        "end_to_end_s": done - t0,
        "on_workers_s": done - first,
        "client_set_up_s": t_set_up - t0,
    }


def _gather(client: base.CxClient, n: int) -> dict[str, float]:
    t0 = time.time()
    run_id = client.start(client.mod.fanout, n)
    done = client.wait([run_id], 60 + n)
    ((created,),) = client.query(
        "SELECT extract(epoch FROM created_at) FROM cx_runs WHERE id = %s", (run_id,)
    )
    return {"end_to_end_s": done - t0, "on_workers_s": done - float(created)}


def fanout(ctx: Ctx) -> dict[str, Any]:
    n = ctx.units(1000, 20)
    base.log(f"workload fanout: {n} activities, chord then continuum")
    with base.workers(ctx, base.PLAIN_APP):
        _chord(ctx, 10)
        peer, peer_counts = base.counted(ctx, n, lambda: _chord(ctx, n))
    client = base.CxClient(ctx)
    try:
        with base.workers(ctx, base.CX_APP, [client.mod.QUEUE]):
            _gather(client, 10)
            ours, our_counts = base.counted(ctx, n, lambda: _gather(client, n), client)
    finally:
        client.close()
    for times in (ours, peer):
        times["per_s"] = n / times["end_to_end_s"]
        times["on_workers_per_s"] = n / times["on_workers_s"]
    return {
        "unit": "activity",
        "size": str(n),
        "continuum": our_counts | ours,
        "peer": peer_counts | peer,
        "peer_name": "celery chord, Redis result backend",
        "ratio": base.ratio(peer["end_to_end_s"], ours["end_to_end_s"]),
        "ratio_on_workers": base.ratio(peer["on_workers_s"], ours["on_workers_s"]),
        "dbos": dbos_peers.fanout(ctx, n, ours),
    }
