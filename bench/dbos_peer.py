"""The optional DBOS peer: the same no-op step as a ``@DBOS.step`` in a ``@DBOS.workflow``.

DBOS runs in the bench process itself (it needs no broker and no worker): workflows
are called on a thread pool of ``THREADS`` threads and checkpoint every step to its
system database, a database of its own on the same Postgres server. Importing this
module raises ImportError when ``dbos`` is not installed; the bench then skips it.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

from dbos import DBOS

from bench.apps.common import step as step_body

THREADS = 8


@DBOS.step(name="bench.dbos.step")
def dbos_step(i: int) -> int:
    return step_body(i)


@DBOS.workflow(name="bench.dbos.flow")
def dbos_flow(steps: int) -> int:
    for i in range(steps):
        dbos_step(i)
    return steps


def launch(database_url: str) -> None:
    """DBOS keeps one instance per process: construct it on its own database and launch it."""
    DBOS(
        config={
            "name": "continuum-bench",
            "system_database_url": database_url,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()


class Peer:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="dbos-bench")

    def __enter__(self) -> Peer:
        launch(self.database_url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True)
        DBOS.destroy()

    def submit(self, n: int, steps: int) -> list[Future[float]]:
        return [self.pool.submit(self._timed, steps) for _ in range(n)]

    @staticmethod
    def _timed(steps: int) -> float:
        dbos_flow(steps)
        return time.time()

    @staticmethod
    def wait(futures: list[Future[float]]) -> float:
        return max(f.result(timeout=600) for f in futures)

    def run_many(self, n: int, steps: int) -> None:
        self.wait(self.submit(n, steps))

    def run_one(self, steps: int) -> float:
        start = time.perf_counter()
        dbos_flow(steps)
        return time.perf_counter() - start
