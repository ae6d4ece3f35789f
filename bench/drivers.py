"""Submit work to each system and wait for it, from the bench process.

Each driver knows how its system reports completion: the plain chain's last task
adds to a Redis sorted set, continuum's runs reach a terminal state in ``cx_runs``.
"""

from __future__ import annotations

import importlib
import itertools
import time
import uuid
from types import ModuleType
from typing import Any

import redis
import sqlalchemy.exc

from bench.environment import Env, log
from bench.reads import RolledBackReads, scored
from bench.windows import deadline

PLAIN_APP = "bench.apps.plain"
DURABLE_APP = "bench.apps.durable"


class PlainDriver:
    def __init__(self, env: Env) -> None:
        self.mod: ModuleType = importlib.import_module(PLAIN_APP)
        self.redis = redis.Redis.from_url(env.broker_url)

    def submit(self, n: int, steps: int) -> dict[str, float]:
        self.redis.delete(self.mod.DONE_KEY)
        submitted = {}
        for _ in range(n):
            chain_id = uuid.uuid4().hex
            submitted[chain_id] = time.time()
            self.mod.make_chain(chain_id, steps).apply_async()
        return submitted

    def wait(self, submitted: dict[str, float], units: int) -> dict[str, float]:
        until = deadline(units)
        while self.redis.zcard(self.mod.DONE_KEY) < len(submitted):
            if time.monotonic() > until:
                raise TimeoutError(
                    f"plain chains: {self.redis.zcard(self.mod.DONE_KEY)}/{len(submitted)} done"
                )
            time.sleep(0.01)
        return {k.decode(): v for k, v in scored(self.redis, self.mod.DONE_KEY)}

    def run_one(self, steps: int) -> float:
        """One chain on its own; end-to-end seconds."""
        submitted = self.submit(1, steps)
        done = self.wait(submitted, steps)
        ((chain_id, t_submit),) = submitted.items()
        return done[chain_id] - t_submit


class DurableDriver:
    TERMINAL = ("completed", "failed", "cancelled")

    def __init__(self, env: Env) -> None:
        self.mod: ModuleType = importlib.import_module(DURABLE_APP)
        self.mod.cx.migrate()
        self.reads = RolledBackReads(env.db_url(), "continuum")

    def submit(self, n: int, steps: int) -> list[str]:
        return [self._start(steps) for _ in range(n)]

    def _start(self, steps: int) -> str:
        """Start one run; a start retried with the same run id returns the same run."""
        run_id = str(uuid.uuid4())
        for attempt in range(60):
            try:
                return str(self.mod.flow.apply_async([steps], run_id=run_id).run_id)
            except sqlalchemy.exc.OperationalError as error:
                if attempt == 0:
                    log(f"continuum: start failed ({type(error).__name__}); retrying")
                time.sleep(0.5)
        raise RuntimeError("continuum: could not start a run for 30 s")

    def _query(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self.reads.query(query, params)

    def wait(self, run_ids: list[str], units: int) -> float:
        until = deadline(units)
        while True:
            rows = self._query(
                "SELECT count(*), count(*) FILTER (WHERE state <> 'completed'),"
                " extract(epoch FROM max(completed_at))"
                " FROM cx_runs WHERE id = ANY(%s::text[]) AND state = ANY(%s)",
                (run_ids, list(self.TERMINAL)),
            )
            done, bad, last = rows[0]
            if bad:
                raise RuntimeError(f"continuum: {bad} runs did not complete: {self._bad(run_ids)}")
            if done >= len(run_ids):
                return float(last)
            if time.monotonic() > until:
                raise TimeoutError(f"continuum: {done}/{len(run_ids)} runs done")
            time.sleep(0.02)

    def _bad(self, run_ids: list[str]) -> list[tuple[Any, ...]]:
        return self._query(
            "SELECT id::text, state, error FROM cx_runs"
            " WHERE id = ANY(%s::text[]) AND state <> 'completed'"
            " AND state = ANY(%s) LIMIT 5",
            (run_ids, list(self.TERMINAL)),
        )

    def step_latencies(self, run_ids: list[str]) -> tuple[list[float], list[float]]:
        """Per-step deltas from the journal, and end-to-end time / S per run.

        A step is ``activity_scheduled`` -> the next ``activity_scheduled`` (its
        activity message, claim, body, completion, the advance message and the
        replay that schedules the next one); the last step ends at the run's
        ``completed_at``. End-to-end is ``created_at`` -> ``completed_at``.
        """
        deltas: list[float] = []
        e2e: list[float] = []
        for run_id in run_ids:
            (created, completed, steps) = self._query(
                "SELECT extract(epoch FROM created_at), extract(epoch FROM completed_at),"
                " (args->>0)::int FROM cx_runs WHERE id = %s",
                (run_id,),
            )[0]
            stamps = [
                float(r[0])
                for r in self._query(
                    "SELECT extract(epoch FROM created_at) FROM cx_events"
                    " WHERE run_id = %s AND type = 'activity_scheduled' ORDER BY seq",
                    (run_id,),
                )
            ]
            stamps.append(float(completed))
            deltas.extend(b - a for a, b in itertools.pairwise(stamps))
            e2e.append((float(completed) - float(created)) / steps)
        return deltas, e2e

    def wake_costs(self, run_id: str) -> list[float]:
        """Per step, ``activity_completed`` -> the next decision's ``created_at``.

        That is the replay side of a step alone: the wakeup message, leasing and
        loading the history, replaying from the top, and committing the decision.
        """
        rows = self._query(
            "SELECT type, extract(epoch FROM created_at) FROM cx_events"
            " WHERE run_id = %s ORDER BY seq",
            (run_id,),
        )
        costs, completed_at = [], None
        for type_, at in rows:
            if type_ == "activity_completed":
                completed_at = float(at)
            elif completed_at is not None and type_ == "activity_scheduled":
                costs.append(float(at) - completed_at)
                completed_at = None
        return costs

    def run_one(self, steps: int) -> str:
        run_ids = self.submit(1, steps)
        self.wait(run_ids, steps)
        return run_ids[0]

    def close(self) -> None:
        self.reads.close()
        self.mod.cx.db.dispose()
