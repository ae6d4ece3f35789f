"""DBOS's side of the workloads mode: one DBOS function per workload shape.

The same no-op step as the fast path's peer (``bench.dbos_peer``), in the shapes the
workloads measure: sequential steps (the fast path's ``dbos_flow``), steps alternating
two DBOS queues, a fan-out over a queue, a one-step workflow, a workflow parked in
``DBOS.recv`` and a durable ``DBOS.sleep``. Everything runs in the bench process, on
DBOS's own system database. Importing this module raises ImportError when ``dbos`` is
not installed; the workloads then report the DBOS peer as skipped.

DBOS polls its queues and the results of enqueued work; both default to once a second
(``polling_interval_sec``). The bench polls every ``POLL_S`` instead: at 1 s a step on
a queue waits on average half a second to be dequeued plus up to a second for its
result, which would measure the interval, not DBOS. 0.05 s came out faster than 0.02 s
on the 2-core machine (more polls compete with the work).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from dbos import DBOS, Queue

from bench import dbos_peer
from bench.dbos_peer import dbos_flow, dbos_step

POLL_S = 0.05
QUEUES = ("bench-dbos-a", "bench-dbos-b")
TOPIC = "go"
RECV_TIMEOUT_S = 600.0
_queues: dict[str, Queue] = {}
_pool: list[ThreadPoolExecutor] = []


@DBOS.workflow(name="bench.dbos.alternating")
def alternating(steps: int) -> int:
    """Step i enqueued on queue ``a`` if i is even, else ``b``, and waited for."""
    for i in range(steps):
        _queues[QUEUES[i % 2]].enqueue(dbos_step, i).get_result(polling_interval_sec=POLL_S)
    return steps


@DBOS.workflow(name="bench.dbos.fanout")
def fanout(n: int) -> int:
    """DBOS's fan-out: enqueue every step on one queue, then wait for every handle."""
    handles = [_queues[QUEUES[0]].enqueue(dbos_step, i) for i in range(n)]
    return len([h.get_result(polling_interval_sec=POLL_S) for h in handles])


@DBOS.workflow(name="bench.dbos.one_step")
def one_step(i: int) -> int:
    return int(dbos_step(i))


@DBOS.workflow(name="bench.dbos.await_signal")
def await_signal() -> Any:
    return DBOS.recv(TOPIC, timeout_seconds=RECV_TIMEOUT_S)


@DBOS.workflow(name="bench.dbos.nap")
def nap(seconds: float) -> float:
    """The wall clock when the thread came back from the durable sleep."""
    DBOS.sleep(seconds)
    return time.time()


def launch(database_url: str) -> None:
    dbos_peer.launch(database_url)
    _pool.append(ThreadPoolExecutor(dbos_peer.THREADS, thread_name_prefix="dbos-bench"))


def destroy() -> None:
    for pool in _pool:
        pool.shutdown(wait=True)
    _pool.clear()
    _queues.clear()
    DBOS.destroy()


def run_flows(n: int, steps: int) -> float:
    """``n`` workflows of ``steps`` steps on the fast path's thread pool; the last return."""
    futures: list[Future[float]] = [_pool[0].submit(_timed_flow, steps) for _ in range(n)]
    return max(f.result(timeout=600) for f in futures)


def _timed_flow(steps: int) -> float:
    dbos_flow(steps)
    return time.time()


def start(workflow: Any, *args: Any) -> Any:
    """``DBOS.start_workflow``: the workflow runs on DBOS's executor; its handle."""
    return DBOS.start_workflow(workflow, *args)


def send(workflow_id: str) -> None:
    DBOS.send(workflow_id, "go", TOPIC)


@contextmanager
def queues() -> Iterator[None]:
    """The two queues, registered for one workload and deleted after it.

    DBOS starts a poller per registered queue (its queue manager looks for new ones
    every second) and stops it once the queue's row is gone, so the pollers' reads
    fall only into the windows of the workloads that use queues.
    """
    for name in QUEUES:
        _queues[name] = DBOS.register_queue(name, polling_interval_sec=POLL_S)
    time.sleep(1.5)  # the queue manager's next look
    try:
        yield
    finally:
        for name in QUEUES:
            DBOS.delete_queue(name)
        _queues.clear()
