"""The DBOS peer of each workload, measured after continuum in the same run.

Each function returns the workload's ``"dbos"`` entry (``dbos_side.peer``): the same
counted window as the other systems, on DBOS's database, plus the workload's own
figures and ``ratio``, continuum over DBOS in the workload's direction (throughput:
ours over DBOS's; fan-out time and timer lateness: DBOS's over ours).

- message: W workflows of S steps (``bench.dbos_peer.dbos_flow``) on the fast path's
  thread pool, as its DBOS peer runs them;
- queues: W workflows started at once (``DBOS.start_workflow``), each enqueueing step
  i on queue ``a`` or ``b`` and waiting for it (the queue itself has no worker of its
  own: DBOS's poller in this process dequeues it onto DBOS's executor);
- fanout: one workflow enqueueing N steps on a queue and waiting for every handle;
- starts: N one-step workflows ``DBOS.start_workflow``, then each handle's result;
- signals: N workflows parked in ``DBOS.recv`` (parked: its timeout is journaled),
  then ``DBOS.send`` to each; throughput and paced latency to ``completed_at``;
- timers: N workflows ``DBOS.sleep``; lateness is the thread's wake minus the wake
  time DBOS journaled for the sleep.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.metrics import percentile
from bench.workloads import base
from bench.workloads.base import Ctx
from bench.workloads.dbos_side import DbosSide, peer

PARKED = (
    "SELECT count(*) FROM dbos.operation_outputs"
    " WHERE workflow_uuid = ANY(%s) AND function_name = 'DBOS.sleep'"
)
COMPLETED = (
    "SELECT workflow_uuid, completed_at / 1000.0 FROM dbos.workflow_status"
    " WHERE workflow_uuid = ANY(%s) AND status = 'SUCCESS'"
)
SLEEP_ENDS = (
    "SELECT workflow_uuid, output FROM dbos.operation_outputs"
    " WHERE workflow_uuid = ANY(%s) AND function_name = 'DBOS.sleep'"
)


def _throughput(ours: dict[str, Any]) -> Any:
    return lambda d: base.ratio(ours["per_s"], d["per_s"])


def _p50_p99(values: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}


def _results(handles: list[Any]) -> float:
    """Waits for every handle; the clock once the last one has its result."""
    for handle in handles:
        handle.get_result()
    return time.time()


def sequential(ctx: Ctx, workflows: int, steps: int, alternate: bool, ours: dict[str, Any]) -> Any:
    def measure(side: DbosSide) -> dict[str, Any]:
        s = side.shapes
        if alternate:
            with s.queues():
                return _steps(ctx, side, workflows, steps, lambda n: _alternating(s, n, steps))
        return _steps(ctx, side, workflows, steps, lambda n: s.run_flows(n, steps))

    return peer(ctx, measure, _throughput(ours))


def _alternating(s: Any, n: int, steps: int) -> float:
    return _results([s.start(s.alternating, steps) for _ in range(n)])


def _steps(ctx: Ctx, side: DbosSide, workflows: int, steps: int, run: Any) -> dict[str, Any]:
    def timed(n: int) -> float:
        t0 = time.time()
        return float(run(n)) - t0

    timed(max(1, ctx.args.warmup))
    elapsed, counts = side.counted(workflows * steps, lambda: timed(workflows))
    return counts | {"elapsed_s": elapsed, "per_s": workflows * steps / elapsed}


def fanout(ctx: Ctx, n: int, ours: dict[str, Any]) -> Any:
    def measure(side: DbosSide) -> dict[str, Any]:
        s = side.shapes

        def run(k: int) -> float:
            t0 = time.time()
            return _results([s.start(s.fanout, k)]) - t0

        with s.queues():
            run(10)
            e2e, counts = side.counted(n, lambda: run(n))
        return counts | {"end_to_end_s": e2e, "per_s": n / e2e}

    return peer(ctx, measure, lambda d: base.ratio(d["end_to_end_s"], ours["end_to_end_s"]))


def starts(ctx: Ctx, n: int, ours: dict[str, Any]) -> Any:
    def measure(side: DbosSide) -> dict[str, Any]:
        s = side.shapes

        def run(k: int) -> float:
            t0 = time.time()
            return _results([s.start(s.one_step, i) for i in range(k)]) - t0

        run(10)
        elapsed, counts = side.counted(n, lambda: run(n))
        return counts | {"elapsed_s": elapsed, "per_s": n / elapsed}

    return peer(ctx, measure, _throughput(ours))


def _park(side: DbosSide, n: int) -> list[Any]:
    """N workflows in ``DBOS.recv``: each journals its timeout before it waits."""
    s = side.shapes
    handles = [s.start(s.await_signal) for _ in range(n)]
    ids = [h.get_workflow_id() for h in handles]
    deadline = time.monotonic() + 60 + n
    while (parked := side.query(PARKED, (ids,))[0][0]) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"dbos signals: {parked}/{n} parked")
        time.sleep(0.05)
    return handles


def _signal(side: DbosSide, handles: list[Any], rate: float | None) -> dict[str, float]:
    """The client's clock just before each ``DBOS.send``; returns once all completed."""
    sent: dict[str, float] = {}
    t0 = time.time()
    for k, handle in enumerate(handles):
        if rate:
            time.sleep(max(0.0, t0 + k / rate - time.time()))
        sent[handle.get_workflow_id()] = time.time()
        side.shapes.send(handle.get_workflow_id())
    _results(handles)
    return sent


def _completed(side: DbosSide, ids: list[str]) -> dict[str, float]:
    return {str(i): float(done) for i, done in side.query(COMPLETED, (ids,))}


def signals(ctx: Ctx, n: int, rate: float, ours: dict[str, Any]) -> Any:
    def measure(side: DbosSide) -> dict[str, Any]:
        _signal(side, _park(side, 5), None)  # warm-up
        handles = _park(side, n)
        sent, counts = side.counted(n, lambda: _signal(side, handles, None))
        first, done = min(sent.values()), _completed(side, list(sent))
        paced = _signal(side, _park(side, n), rate)
        paced_done = _completed(side, list(paced))
        late = [1000 * (paced_done[i] - paced[i]) for i in paced]
        return counts | {
            "elapsed_s": max(done.values()) - first,
            "per_s": n / (max(done.values()) - first),
            "sent_per_s": n / max(1e-9, max(sent.values()) - first),
            "latency": {"paced_per_s": rate} | _p50_p99(late),
        }

    return peer(ctx, measure, _throughput(ours))


def _naps(side: DbosSide, delays: list[float]) -> dict[str, float]:
    """Per workflow, when its thread woke from ``DBOS.sleep``."""
    s = side.shapes
    handles = [s.start(s.nap, delay) for delay in delays]
    return {h.get_workflow_id(): float(h.get_result()) for h in handles}


def timers(ctx: Ctx, delays: list[float], ours: dict[str, Any]) -> Any:
    def measure(side: DbosSide) -> dict[str, Any]:
        _naps(side, [0.05] * 3)
        woke, counts = side.counted(len(delays), lambda: _naps(side, delays))
        rows = side.query(SLEEP_ENDS, (list(woke),))
        ends = {str(i): float(json.loads(out)) for i, out in rows}
        late = [1000 * (woke[i] - ends[i]) for i in woke]
        return counts | {"lateness": _p50_p99(late)}

    def ratio(d: dict[str, Any]) -> float | None:
        return base.ratio(d["lateness"]["p99_ms"], ours["lateness"]["p99_ms"])

    return peer(ctx, measure, ratio)
