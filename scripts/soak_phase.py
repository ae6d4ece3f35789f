"""The soak while it runs: submit on schedule, send signals, and misbehave (kill and
restart workers, flush the broker, restart Postgres); then wait for the runs to end."""

from __future__ import annotations

import collections
import random
import subprocess
import time
from typing import TYPE_CHECKING

from soak_check import unfinished
from soak_common import log, retrying
from soak_plan import Chaos, Planned
from soak_report import Report
from soak_servers import flush_broker, restart_postgres
from soak_workers import Worker

if TYPE_CHECKING:
    from continuum_celery import Continuum


class RunPhase:
    """Submit on schedule, send signals, and misbehave, until all three are done."""

    def __init__(
        self,
        cx: Continuum,
        planned: list[Planned],
        chaos: list[Chaos],
        workers: list[Worker],
        broker_url: str,
        rng: random.Random,
    ) -> None:
        self.cx = cx
        self.planned = planned
        self.chaos = chaos
        self.workers = workers
        self.broker_url = broker_url
        self.rng = rng
        self.restarts: list[tuple[float, Worker]] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.submitted = 0

    def run(self, report: Report) -> None:
        begin = time.monotonic()
        while True:
            now = time.monotonic() - begin
            self.submit_due(now)
            send_signals(self.cx, self.planned, now)
            self.misbehave(now)
            self.restart_due(now)
            if self.done():
                break
            time.sleep(0.02)
        report.chaos = dict(self.counts)
        elapsed = time.monotonic() - begin
        log(f"submitted {self.submitted} runs in {elapsed:.1f}s; chaos {dict(self.counts)}")

    def submit_due(self, now: float) -> None:
        for run in self.planned[self.submitted :]:
            if run.submit_at > now:
                break
            submit(self.cx, run)
            self.submitted += 1

    def misbehave(self, now: float) -> None:
        for event in self.chaos:
            if event.done or event.at > now:
                continue
            event.done = True
            self.counts[event.action] += 1
            self.act(event, now)

    def act(self, event: Chaos, now: float) -> None:
        if event.action == "kill" and event.worker is not None:
            self.kill(self.workers[event.worker], now)
        elif event.action == "flush":
            flush_broker(self.broker_url)
            log("flushed the broker database")
        elif event.action == "pg-restart":
            self.restart_postgres()

    def kill(self, worker: Worker, now: float) -> None:
        """SIGKILL a running worker and its pool; it comes back in a second or two."""
        if worker.proc is None:
            return
        worker.kill()
        worker.kills += 1
        self.restarts.append((now + self.rng.uniform(0.5, 2.0), worker))
        log(f"killed worker {worker.index} (-9, with its pool)")

    def restart_postgres(self) -> None:
        log("restarting Postgres")
        try:
            log(f"Postgres restarted in {restart_postgres():.1f}s")
        except (OSError, subprocess.SubprocessError) as error:
            self.counts["pg-restart-failed"] += 1
            log(f"could not restart Postgres: {error}")

    def restart_due(self, now: float) -> None:
        for due, worker in list(self.restarts):
            if due <= now:
                self.restarts.remove((due, worker))
                worker.start()
                self.counts["restart"] += 1

    def done(self) -> bool:
        return (
            self.submitted == len(self.planned)
            and all(e.done for e in self.chaos)
            and not self.restarts
            and all(p.signalled or p.signal_at is None for p in self.planned)
        )


def submit(cx: Continuum, run: Planned) -> None:
    def start() -> None:
        cx.start(run.workflow, *run.args, run_id=run.run_id, idempotency_key=run.run_id)

    retrying(f"starting {run.run_id}", start)
    run.submitted = True


def send_signals(cx: Continuum, planned: list[Planned], now: float) -> None:
    """Signal every submitted run whose signal is due; a failed one is sent again on
    the next pass."""
    for run in planned:
        if run.signal_at is None or run.signalled or run.signal_at > now or not run.submitted:
            continue
        try:
            cx.signal(run.run_id, "go", run.signal_payload)
        except Exception as error:  # retried on the next pass
            log(f"signal to {run.run_id} failed ({type(error).__name__}); will retry")
            continue
        run.signalled = True


def drain(
    cx: Continuum, planned: list[Planned], database_url: str, limit: float, report: Report
) -> None:
    """Wait, at most ``limit`` seconds, until no run is left running."""
    started = time.monotonic()
    run_ids = [p.run_id for p in planned]
    last_log = 0.0
    while time.monotonic() - started < limit:
        send_signals(cx, planned, float("inf"))
        remaining = retrying("counting runs", lambda: unfinished(database_url, run_ids))
        if remaining == 0:
            break
        if time.monotonic() - last_log > 10:
            log(f"waiting for {remaining} unfinished runs")
            last_log = time.monotonic()
        time.sleep(0.5)
    report.drain_seconds = time.monotonic() - started
