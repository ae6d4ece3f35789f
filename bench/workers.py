"""Real ``celery worker`` subprocesses for a measured run.

The bench measures prefork workers as they are deployed, not an in-process pool, so
the counters include the broker round trips and the pool children's own work.
"""

from __future__ import annotations

import contextlib
import os

from bench.environment import Env, log
from bench.metrics import Probe
from tests.integration.harness import WorkerProcess


class Workers:
    """``count`` real ``celery worker`` subprocesses of one app; the first may run beat.

    With ``events`` every worker sends task events (``-E``), as it would for Flower.
    """

    def __init__(
        self,
        env: Env,
        probe: Probe,
        app: str,
        count: int,
        concurrency: int,
        beat: bool,
        events: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.probe = probe
        self.procs = [
            WorkerProcess(
                app,
                concurrency=concurrency,
                pool="prefork",
                beat=beat and i == 0,
                env={**env.worker_env(), **(extra_env or {})},
                log_dir=env.log_dir,
                name=f"{app.rsplit('.', 1)[-1]}{i + 1}-{os.getpid()}",
                extra_args=["-E"] if events else [],
            )
            for i in range(count)
        ]

    def __enter__(self) -> Workers:
        try:
            for proc in self.procs:
                proc.start(timeout=60)
        except Exception:
            self.kill()
            raise
        self.probe.worker_pgids = [p.pid for p in self.procs]
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            for proc in self.procs:
                log(f"----- {proc.log_path} (tail) -----\n{proc.log_tail(40)}")
        self.kill()

    def kill(self) -> None:
        self.probe.worker_pgids = []
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.kill()

    def pool_children(self) -> list[int]:
        children = []
        for proc in self.procs:
            for pid in proc.pids():
                if pid != proc.pid:
                    children.append(pid)
        return children
