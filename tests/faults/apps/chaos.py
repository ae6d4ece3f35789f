"""The app the fault-injection suite runs in real ``celery worker`` processes.

Configured from the environment like a deployment (``CONTINUUM_DATABASE_URL``,
``CELERY_BROKER_URL``), plus knobs that make recovery fast enough to test and a
publisher that can misbehave on purpose:

``CX_CHAOS_STATE_DIR``            where activity bodies count their executions
``CX_CHAOS_TRANSPORT_OPTIONS``    JSON for ``broker_transport_options``
``CX_CHAOS_PREFETCH``             ``worker_prefetch_multiplier`` (default 1)
``CX_CHAOS_UPKEEP_INTERVAL``      seconds between upkeep passes (default 0.5)
``CX_CHAOS_WAKE_STALE_AFTER``     ``UpkeepSettings.wake_stale_after`` (default 1.0)
``CX_CHAOS_TASK_STALE_AFTER``     ``UpkeepSettings.task_stale_after`` (default 2.0)
``CX_CHAOS_LEASE_TTL``            run lease, renewed while a replay works (default 2.0)
``CX_CHAOS_CLAIM_TTL``            activity claim, renewed while a body runs (default 2.0)
``CX_CHAOS_REPEAT``               send every message this many times (default 1)
``CX_CHAOS_DROP_ADVANCE``         drop the first N replay wakeups published anywhere
``CX_CHAOS_DROP_ACTIVITY``        drop the first N activity messages published anywhere

Everything is built by :func:`build` from a plain mapping, so the test process can
make clients for several brokers without touching ``os.environ``. Task names are
explicit (``chaos.*``) and the default queue is ``chaos``, so nothing here can
collide with another app on the same broker.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from continuum_celery import ActivityFailed, Continuum, RetryPolicy, workflow
from continuum_celery.journal.records import TaskMessage
from continuum_celery.runtime.sweeper import UpkeepSettings
from continuum_celery.runtime.transport import Publisher

QUEUE = "chaos"
log = logging.getLogger("chaos")


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    state_dir: Path
    transport_options: dict[str, Any] = field(default_factory=dict)
    prefetch: int = 1
    upkeep_interval: float = 0.5
    wake_stale_after: float = 1.0
    task_stale_after: float = 2.0
    lease_ttl: float = 2.0
    claim_ttl: float = 2.0
    repeat: int = 1
    inline_budget: float = 1.0
    drop_advance: int = 0
    drop_activity: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def number(name: str, default: float) -> float:
            return float(env.get(name) or default)

        return cls(
            database_url=env.get("CONTINUUM_DATABASE_URL", ""),
            broker_url=env.get("CELERY_BROKER_URL", ""),
            state_dir=Path(env.get("CX_CHAOS_STATE_DIR") or "/tmp/cx-chaos-state"),
            transport_options=json.loads(env.get("CX_CHAOS_TRANSPORT_OPTIONS") or "{}"),
            prefetch=int(number("CX_CHAOS_PREFETCH", 1)),
            upkeep_interval=number("CX_CHAOS_UPKEEP_INTERVAL", 0.5),
            wake_stale_after=number("CX_CHAOS_WAKE_STALE_AFTER", 1.0),
            task_stale_after=number("CX_CHAOS_TASK_STALE_AFTER", 2.0),
            lease_ttl=number("CX_CHAOS_LEASE_TTL", 2.0),
            claim_ttl=number("CX_CHAOS_CLAIM_TTL", 2.0),
            repeat=int(number("CX_CHAOS_REPEAT", 1)),
            inline_budget=number("CX_CHAOS_INLINE_BUDGET", 1.0),
            drop_advance=int(number("CX_CHAOS_DROP_ADVANCE", 0)),
            drop_activity=int(number("CX_CHAOS_DROP_ACTIVITY", 0)),
        )


# --- counters shared by every process of one test, through files ---------------------


def bump(path: Path, limit: int | None = None) -> int:
    """Add one to the counter in ``path`` (unless it reached ``limit``); returns the
    value before. A lock file makes this atomic across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f"{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = int(path.read_text() or 0) if path.exists() else 0
        if limit is None or before < limit:
            path.write_text(str(before + 1))
        return before


def read_counter(path: Path) -> int:
    return int(path.read_text() or 0) if path.exists() else 0


def record_call(state_dir: Path, key: str) -> int:
    """Count one body execution under ``key``; returns how many ran before this one."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"calls-{key}"
    with (state_dir / f"calls-{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = len(path.read_text().splitlines()) if path.exists() else 0
        with path.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
    return before


def call_pids(state_dir: Path, key: str) -> list[int]:
    path = state_dir / f"calls-{key}"
    return [int(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- a publisher that loses and repeats messages ------------------------------------


class ChaosPublisher:
    """Wraps the real publisher: every message is sent ``repeat`` times, and the
    first ``drop_*`` messages of each kind (counted across all processes sharing
    ``state_dir``) are never sent at all, exactly as if the process had crashed
    between its journal commit and its publish."""

    def __init__(self, inner: Publisher, settings: Settings) -> None:
        self.inner = inner
        self.repeat = max(1, settings.repeat)
        self.drops = {"advance": settings.drop_advance, "activity": settings.drop_activity}
        self.state_dir = settings.state_dir

    def _dropped(self, kind: str, what: str) -> bool:
        limit = self.drops[kind]
        if limit <= 0:
            return False
        if bump(self.state_dir / f"dropped-{kind}", limit) >= limit:
            return False
        log.warning("chaos: dropped %s message %s", kind, what)
        return True

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        if self._dropped("advance", f"run={run_id}"):
            return
        for _ in range(self.repeat):
            self.inner.publish_advance(run_id, countdown)
        bump(self.state_dir / "published-advance")

    def publish_activity(self, message: TaskMessage) -> None:
        if self._dropped("activity", f"task={message.task_id} attempt={message.attempt}"):
            return
        for _ in range(self.repeat):
            self.inner.publish_activity(message)
        bump(self.state_dir / "published-activity")


def install_publisher(cx: Continuum, publisher: Publisher) -> None:
    """Put ``publisher`` everywhere ``cx`` publishes from: the client, the replay
    loop, activity settlement and upkeep all share the one original object."""
    original = cx.publisher
    cx.publisher = publisher  # type: ignore[assignment]
    for part in vars(cx).values():
        if part is not publisher and getattr(part, "publisher", None) is original:
            part.publisher = publisher


def retries(attempts: int) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, backoff="constant", base=0.2)


def spin(rounds: int) -> int:
    """Deterministic CPU work: makes each replay slow without reading any clock."""
    total = 0
    for i in range(rounds):
        total = (total + i * i) % 1_000_003
    return total


# --- the app ----------------------------------------------------------------------


class Chaos:
    """One Celery app + Continuum with the suite's activities and workflows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        state_dir = settings.state_dir
        app = Celery("chaos", broker=settings.broker_url, set_as_current=False)
        app.conf.update(
            # Pinned, so a stray CELERY_BROKER_URL in the environment cannot redirect
            # a client made for another broker (Celery lets that variable win).
            broker_read_url=settings.broker_url,
            broker_write_url=settings.broker_url,
            broker_transport_options=settings.transport_options,
            broker_connection_retry_on_startup=True,
            task_default_queue=QUEUE,
            task_serializer="json",
            accept_content=["json"],
            result_backend=None,
            task_acks_late=True,
            worker_prefetch_multiplier=settings.prefetch,
            worker_enable_remote_control=False,
        )
        cx = Continuum(
            app,
            settings.database_url,
            lease_ttl=settings.lease_ttl,
            claim_ttl=settings.claim_ttl,
            upkeep_interval=settings.upkeep_interval,
            inline_budget=settings.inline_budget,
            upkeep=UpkeepSettings(
                wake_stale_after=settings.wake_stale_after,
                task_stale_after=settings.task_stale_after,
            ),
        )
        install_publisher(cx, ChaosPublisher(cx.publisher, settings))
        self.app, self.cx = app, cx

        # --- activities --------------------------------------------------------

        @cx.activity(name="chaos.add")
        def add(a: int, b: int) -> int:
            return a + b

        @cx.activity(name="chaos.work", retry=RetryPolicy(max_attempts=3, base=0.2))
        def work(key: str, value: Any, pause: float = 0.0) -> Any:
            record_call(state_dir, key)
            time.sleep(pause)
            return value

        @cx.activity(name="chaos.slow_first")
        def slow_first(key: str, value: Any, first_pause: float, pause: float = 0.0) -> Any:
            """Hangs on its first execution only (the one a test then kills or freezes)."""
            before = record_call(state_dir, key)
            time.sleep(first_pause if before == 0 else pause)
            return value

        @cx.activity(name="chaos.flaky", retry=RetryPolicy(max_attempts=4, backoff="constant",
                                                           base=1.5))  # fmt: skip
        def flaky(key: str, failures: int) -> int:
            before = record_call(state_dir, key)
            if before < failures:
                raise ConnectionError(f"transient failure {before + 1}")
            return before + 1

        # --- workflows ---------------------------------------------------------

        @cx.workflow(name="chaos.fan_out")
        def fan_out(key: str, width: int, pause: float, timeout: float) -> list[Any]:
            call = work.options(timeout=timeout)
            return workflow.gather(*[call.start(f"{key}-{i}", i, pause) for i in range(width)])

        @cx.workflow(name="chaos.chain")
        def chain(steps: int, attempts: int = 1) -> int:
            step = add.options(retry=retries(attempts))
            total = 0
            for i in range(steps):
                total = step(total, i)
            return total

        @cx.workflow(name="chaos.journey")
        def journey(key: str, nap: float = 0.5, attempts: int = 1) -> dict[str, Any]:
            """Every kind of wait: activities in sequence and in parallel, a durable
            timer, a buffered signal and a signal awaited with a timeout."""
            base = add.options(retry=retries(attempts))(1, 2)
            doubled = work(f"{key}-w", base * 2)
            workflow.sleep(nap)
            early = workflow.wait_signal("early")
            try:
                approval = workflow.wait_signal("approve", timeout=60)
            except workflow.SignalTimeout:
                approval = "timed out"
            parallel = workflow.gather(*[work.start(f"{key}-p{i}", i * i) for i in range(3)])
            return {"doubled": doubled, "early": early, "approval": approval,
                    "parallel": parallel}  # fmt: skip

        @cx.workflow(name="chaos.single")
        def single(key: str, first_pause: float, timeout: float, attempts: int,
                   hold: bool = False) -> Any:  # fmt: skip
            """One slow-at-first activity; with ``hold`` the run then waits for a
            ``release`` signal, so it is still running when a stale worker wakes up."""
            call = slow_first.options(timeout=timeout, retry=retries(attempts))
            result = call(key, "done", first_pause)
            if hold:
                workflow.wait_signal("release")
            return result

        @cx.workflow(name="chaos.sleeper")
        def sleeper(seconds: float) -> float:
            started = workflow.now()
            workflow.sleep(seconds)
            return (workflow.now() - started).total_seconds()

        @cx.workflow(name="chaos.retrying")
        def retrying(key: str, failures: int) -> Any:
            try:
                return flaky(key, failures)
            except ActivityFailed as error:
                return f"failed: {error}"

        @cx.workflow(name="chaos.slow_replay")
        def slow_replay(key: str, width: int, rounds: int, phases: int) -> dict[str, Any]:
            """Every replay burns ``rounds`` of CPU per phase before its fan-out, so
            activities keep completing while a replay is in flight. Then the run
            parks on a ``finish`` signal, so a test can inspect it at rest."""
            results = []
            checksum = 0
            for phase in range(phases):
                checksum = (checksum + spin(rounds)) % 1_000_003
                handles = [work.start(f"{key}-{phase}-{i}", [phase, i], 0.05 * (i % 4))
                           for i in range(width)]  # fmt: skip
                results.extend(workflow.gather(*handles))
            workflow.wait_signal("finish")
            return {"results": results, "checksum": checksum}

        self.add, self.work, self.slow_first, self.flaky = add, work, slow_first, flaky
        self.fan_out, self.chain, self.journey, self.single = fan_out, chain, journey, single
        self.sleeper, self.retrying, self.slow_replay = sleeper, retrying, slow_replay

    # --- what tests read ----------------------------------------------------------

    def calls(self, key: str) -> int:
        return len(call_pids(self.settings.state_dir, key))

    def counter(self, name: str) -> int:
        return read_counter(self.settings.state_dir / name)


def build(env: Mapping[str, str]) -> Chaos:
    return Chaos(Settings.from_env(env))


_default: Chaos | None = None


def __getattr__(name: str) -> Any:
    """``app``, ``cx`` and ``chaos``, built from ``os.environ`` on first access: what
    ``celery -A tests.faults.apps.chaos worker`` loads. The test process only uses
    :func:`build`, so importing this module there needs no environment at all."""
    global _default
    if name not in ("app", "cx", "chaos"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _default is None:
        _default = build(os.environ)
    return _default if name == "chaos" else getattr(_default, name)
