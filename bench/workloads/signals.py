"""Signal round trip: runs parked on ``wait_signal``, each woken by ``cx.signal``.

Two phases on the same worker, each with N freshly parked runs (parked means the run's
wait row is in ``cx_waits``; parking is not measured):

- *throughput*: one client thread signals all N as fast as it can; signals/s is N
  over first signal to last ``completed_at``; commits and messages per signal are
  counted over this phase;
- *latency*: the client paces the signals at ``--signal-rate`` per second (250);
  signal -> completion is the run's ``completed_at`` minus the client's clock just
  before its ``cx.signal`` call; p50 and p99.

The peer would be DBOS ``send``/``recv``; plain Celery has no signal to compare.
"""

from __future__ import annotations

import time
from typing import Any

from bench.metrics import percentile
from bench.workloads import base, dbos_peers
from bench.workloads.base import Ctx


def _park(client: base.CxClient, n: int) -> list[str]:
    ids = [client.start(client.mod.await_signal, i) for i in range(n)]
    deadline = time.monotonic() + 60 + n
    while True:
        ((parked,),) = client.query(
            "SELECT count(*) FROM cx_waits WHERE run_id = ANY(%s::text[]) AND NOT resolved", (ids,)
        )
        if parked >= n:
            return ids
        if time.monotonic() > deadline:
            raise TimeoutError(f"signals: {parked}/{n} runs parked")
        time.sleep(0.05)


def _signal(
    client: base.CxClient, ids: list[str], rate: float | None
) -> tuple[dict[str, float], float]:
    """Send times per run, and the last run's ``completed_at``."""
    sent: dict[str, float] = {}
    t0 = time.time()
    for k, run_id in enumerate(ids):
        if rate:
            time.sleep(max(0.0, t0 + k / rate - time.time()))
        sent[run_id] = time.time()
        client.mod.cx.signal(run_id, client.mod.SIGNAL, "go")
    return sent, client.wait(ids, 60 + len(ids))


def _latencies(client: base.CxClient, sent: dict[str, float]) -> list[float]:
    rows = client.query(
        "SELECT id, extract(epoch FROM completed_at) FROM cx_runs WHERE id = ANY(%s::text[])",
        (list(sent),),
    )
    return [1000 * (float(done) - sent[run_id]) for run_id, done in rows]


def _throughput(client: base.CxClient, ids: list[str]) -> dict[str, float]:
    sent, last = _signal(client, ids, None)
    first = min(sent.values())
    return {
        "elapsed_s": last - first,
        "per_s": len(ids) / (last - first),
        "sent_per_s": len(ids) / max(1e-9, max(sent.values()) - first),
    }


def signals(ctx: Ctx) -> dict[str, Any]:
    n = ctx.units(500, 10)
    rate = ctx.args.signal_rate
    base.log(f"workload signals: {n} parked runs, as fast as possible, then {rate}/s")
    client = base.CxClient(ctx)
    try:
        with base.workers(ctx, base.CX_APP, [client.mod.QUEUE]):
            _signal(client, _park(client, 5), None)  # warm-up
            ids = _park(client, n)
            ours, counts = base.counted(ctx, n, lambda: _throughput(client, ids), client)
            paced = _latencies(client, _signal(client, _park(client, n), rate)[0])
    finally:
        client.close()
    latency = {
        "paced_per_s": rate,
        "p50_ms": percentile(paced, 50),
        "p99_ms": percentile(paced, 99),
    }
    return {
        "unit": "signal",
        "size": str(n),
        "continuum": counts | ours | {"latency": latency},
        "peer": None,
        "peer_name": "none in Celery (DBOS send/recv where installed)",
        "ratio": None,
        "dbos": dbos_peers.signals(ctx, n, rate, ours),
    }
