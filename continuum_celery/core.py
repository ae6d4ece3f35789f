"""``Continuum``: the engine object that ties a Celery app to a Postgres journal."""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from . import bulk, checks, ops, starting
from .celery_app import tasks as celery_tasks
from .celery_app.visibility import InlineAttempts
from .celery_app.worker import install_worker_step
from .client import RunHandle
from .definitions import (
    DEFAULT_TIMEOUT,
    Activity,
    ActivityOptions,
    IdempotencyKey,
    Registry,
    Workflow,
)
from .engine.residents import DEFAULT_CAPACITY
from .engine.retry import RetryPolicy
from .journal.db import ConfigurationError, Database
from .journal.history import HistoryCache
from .journal.migrate import SchemaGate, migrate
from .journal.records import DEFAULT_SCOPE, NewRun
from .journal.starts import first_lease
from .journal.store import RunStore
from .journal.sweep import SweepStore
from .journal.tasks import TaskStore
from .operating import Operations
from .payloads import DEFAULT_MAX_PAYLOAD_BYTES
from .run_access import RunAccess
from .runtime.advance import Advancer
from .runtime.hooks import NOOP, Hooks
from .runtime.live import SystemSources
from .runtime.perform import Performer
from .runtime.sweeper import Sweeper, UpkeepReport, UpkeepSettings
from .runtime.transport import AfterCommit
from .runtime.upkeep_loop import UpkeepLoop, build_upkeep_loop
from .scheduling import Schedules
from .telemetry import kinds as telemetry_kinds

F = TypeVar("F", bound=Callable[..., Any])


class Continuum(Operations, RunAccess):
    """Durable workflows for one Celery app.

    ``database_url`` defaults to ``$CONTINUUM_DATABASE_URL``. Declaring activities
    and workflows registers their Celery tasks; ``celery -A app worker`` then runs
    everything, upkeep included (a worker bootstep; ``upkeep_beat=True`` adds the
    old beat task as well).
    """

    def __init__(
        self,
        app: Any,
        database_url: str | None = None,
        *,
        lease_ttl: float = 30.0,
        claim_ttl: float = 30.0,
        upkeep_interval: float = 1.0,
        upkeep: UpkeepSettings | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        eager: bool = True,
        inline_budget: float = 1.0,
        hold_claims: bool = True,
        resident_runs: int = DEFAULT_CAPACITY,
        wakeup_time_limit: float = 300.0,
        worker_upkeep: bool = True,
        upkeep_beat: bool = False,
        actor: str | None = None,
        retention: timedelta | float | None = None,
        scope: str = DEFAULT_SCOPE,
        determinism_guard: bool = True,
        telemetry: bool | str | Sequence[str] = False,
        metrics_port: int | None = None,
    ) -> None:
        url = database_url or os.environ.get("CONTINUUM_DATABASE_URL")
        if not url:
            raise ConfigurationError("pass database_url= or set CONTINUUM_DATABASE_URL")
        asked = telemetry_kinds(telemetry)  # checked before anything is registered
        if metrics_port is not None:
            checks.port(metrics_port, "metrics_port")
        self.app = app
        self.scope = checks.check_scope(scope)
        """The runs this app starts, replays, runs activities for and keeps up:
        apps sharing a database each name their own (docs/operations.md)."""
        self.actor = ops.who(actor)
        """Who operator actions from this process are audited as, unless they say."""
        self.max_payload_bytes = max_payload_bytes
        self.determinism_guard = checks.flag(determinism_guard, "determinism_guard")
        """The default of ``@cx.workflow(guard=...)``."""
        self.db = Database(url)
        self.schema = SchemaGate(self.db)
        """Client calls check once per process that the database is migrated."""
        self.registry = Registry()
        histories = HistoryCache()
        self.runs = RunStore(self.db, lease_ttl, histories, self.scope)
        self.tasks = TaskStore(self.db, claim_ttl, histories, self.scope)
        self.resident_runs = checks.at_least_zero(resident_runs, "resident_runs")
        checks.at_least_zero(inline_budget, "inline_budget")
        self.wakeup_time_limit = checks.wakeup_time_limit(wakeup_time_limit)
        self.publisher = celery_tasks.CeleryPublisher(app, inline_budget)
        self.outbox = AfterCommit(self.publisher)
        """Publishes what is already committed: a broker outage delays that work
        (upkeep sends it again), it never turns a done action into an error."""
        settings = dataclasses.replace(
            upkeep or UpkeepSettings(), retention=checks.age_seconds(retention)
        )
        self.eager = checks.flag(eager, "eager")
        """Replay where the input lands: after an activity's completion, and a start
        that has the workflow's code commits the run with its first decision."""
        self._wire_runtime(eager, settings)
        self.performer.hold_claims = checks.flag(hold_claims, "hold_claims")
        self._wire_upkeep(url, settings, upkeep_interval, worker_upkeep)
        self.schedules = Schedules(self)
        """Durable cron and interval starts: ``cx.schedules.create(...)`` and friends."""
        self._register(upkeep_interval if upkeep_beat else None)
        self._wire_telemetry(asked, metrics_port)

    def _wire_telemetry(self, asked: tuple[str, ...], port: int | None) -> None:
        """Spans and metrics where asked (docs/telemetry.md); off, they cost nothing.

        ``metrics_port`` turns metrics on and serves them from each worker's main
        process, summed over its pool processes (Prometheus multiprocess mode)."""
        self.hooks: Hooks = NOOP
        """Telemetry hooks (``continuum_celery.telemetry``); no-ops unless turned on."""
        if port is not None:
            asked = (*asked, "metrics") if "metrics" not in asked else asked
            from .telemetry.serve import prepare_multiprocess, serve

            prepare_multiprocess()
            celery_tasks.on_worker_ready(self.app, lambda: serve(port))
        if asked:
            from .telemetry import instrument

            instrument(self, asked)

    def set_hooks(self, hooks: Hooks) -> None:
        """Telemetry for the client calls, replays, attempts and upkeep of this engine."""
        self.hooks = self.advancer.hooks = self.performer.hooks = hooks

    def _register(self, beat_interval: float | None) -> None:
        """The Celery side: the wakeup task, optional beat upkeep, worker hooks."""
        app = self.app
        celery_tasks.warn_unsafe_content(app)
        celery_tasks.register_advance(app, self.advancer.advance, self.wakeup_time_limit)
        celery_tasks.register_advance_many(app, self.advancer.advance_many,
                                           self.wakeup_time_limit)  # fmt: skip
        if beat_interval is not None:
            celery_tasks.register_upkeep(app, self.sweeper.run_once, beat_interval)
        # New code may have come with this worker: blocked runs get a chance at once.
        celery_tasks.on_worker_ready(app, self.sweeper.wake_blocked)
        celery_tasks.on_worker_ready(app, self.schedules.apply_declared)  # @cx.schedule
        # Found here by `celery -A app continuum ...` (the command line's Celery plugin).
        app.continuum = self

    def _wire_upkeep(
        self, url: str, settings: UpkeepSettings, interval: float, in_worker: bool
    ) -> None:
        """Upkeep in every worker's main process, one leader at a time (no beat)."""

        def loop(node: str) -> UpkeepLoop:
            owner = f"{node} pid {os.getpid()}"
            return build_upkeep_loop(url, self.tasks.claim_ttl, self.performer, self.publisher,
                                     settings, interval, owner, jobs)  # fmt: skip

        def jobs(db: Database, outbox: AfterCommit) -> Callable[[], int]:
            return bulk.worker(self, db, outbox, settings.bulk_batch)

        install_worker_step(self.app, loop if in_worker else None)

    def _wire_runtime(self, eager: bool, upkeep: UpkeepSettings) -> None:
        """The replay, activity and upkeep loops, all over the same stores."""
        outbox = self.outbox
        self.advancer = Advancer(
            self.runs,
            self.registry,
            outbox,
            SystemSources(),
            socket.gethostname(),
            self.max_payload_bytes,
            self.resident_runs,
        )
        self.performer = Performer(
            self.tasks,
            self.registry,
            outbox,
            celery_tasks.TIMEOUT_ERRORS,
            self.advancer.decide if eager else None,
            self.publisher.queue_of,
            self.publisher.inline_budget,
            InlineAttempts(self.app),
        )
        # A wakeup delivery may run the first activity it schedules itself, too, if
        # its timeout fits in the wakeup's hard time limit.
        route = self.publisher.queue_of  # read at the first wakeup, once routes are set
        fits = self.wakeup_time_limit - celery_tasks.HARD_LIMIT_GRACE
        self.advancer.offer_inline = lambda: self.performer.inline_offer(
            route(celery_tasks.ADVANCE, None), fits
        )
        self.advancer.run_inline = self.performer.run_claimed
        self.performer.owner = lambda: self.advancer.owner
        self.advancer.eager_wake = eager
        sweep = SweepStore(self.db, self.scope)
        self.sweeper = Sweeper(sweep, self.tasks, outbox, self.performer, upkeep)
        self.sweeper.jobs = bulk.worker(self, batch=upkeep.bulk_batch)

    # --- declaring --------------------------------------------------------------------

    @overload
    def activity(self, fn: F) -> Activity: ...

    @overload
    def activity(
        self,
        fn: None = None,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        queue: str | None = None,
        priority: int | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> Callable[[F], Activity]: ...

    def activity(
        self,
        fn: F | None = None,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        queue: str | None = None,
        priority: int | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> Activity | Callable[[F], Activity]:
        """Declare an activity; options are validated here, at import time.

        ``idempotency_key`` (a string, or a function of the call's arguments) makes
        the activity run once per key across all runs: later calls with a key that
        already has a committed result journal that result without running.
        """
        options = ActivityOptions(retry or RetryPolicy(), timeout, queue, priority, idempotency_key)

        def declare(func: F) -> Activity:
            task_name = name or celery_tasks.task_name(self.app, func)
            activity = Activity(func, task_name, options, self.max_payload_bytes)
            self.registry.add_activity(activity)
            celery_tasks.register_activity(self.app, task_name, self.performer.perform)
            return activity

        return declare(fn) if fn is not None else declare

    @overload
    def workflow(self, fn: F) -> Workflow: ...

    @overload
    def workflow(
        self,
        fn: None = None,
        *,
        name: str | None = None,
        version: int = 1,
        guard: bool | None = None,
    ) -> Callable[[F], Workflow]: ...

    def workflow(
        self,
        fn: F | None = None,
        *,
        name: str | None = None,
        version: int = 1,
        guard: bool | None = None,
    ) -> Workflow | Callable[[F], Workflow]:
        r"""Declare a workflow. Several ``version``\ s of one name may be registered:
        new runs start on the newest, and each run replays with the version it
        started on. ``guard=False`` lets its code call the clock, randomness and I/O
        directly (the determinism guard is on by default, see ``determinism_guard``)."""
        guarded = self.determinism_guard if guard is None else guard

        def declare(func: F) -> Workflow:
            wf_name = name or celery_tasks.task_name(self.app, func)
            wf = Workflow(func, wf_name, self._start, version, self.max_payload_bytes, guarded)
            self.registry.add_workflow(wf)
            return wf

        return declare(fn) if fn is not None else declare

    def schedule(
        self, spec: str | Sequence[str], *, schedule_id: str | None = None, **options: Any
    ) -> Callable[[Workflow], Workflow]:
        """Put above ``@cx.workflow()``: a schedule declared with the code, created or
        updated at worker start. Options as for ``cx.schedules.create``."""
        attach: Callable[[Workflow], Workflow] = self.schedules.declare(
            spec, schedule_id, **options
        )
        return attach

    # --- client -------------------------------------------------------------------------

    def start(
        self,
        workflow: Workflow | str,
        /,
        *args: Any,
        run_id: str | None = None,
        idempotency_key: str | None = None,
        namespace: str = "default",
        attributes: dict[str, Any] | None = None,
        eta: datetime | None = None,
        **kwargs: Any,
    ) -> RunHandle:
        """Start a run of a workflow, given as an object or by name:
        ``cx.start("shop.order_flow", "o-1", 100, run_id="order-o-1")``.

        A name needs no import of the workflow's code (a web tier can start runs
        that only workers can run). A run id that exists returns that run if its
        workflow and input are the same, and raises RunAlreadyExists otherwise.
        """
        return self._start(workflow, args, kwargs, run_id=run_id, idempotency_key=idempotency_key,
                           namespace=namespace, attributes=attributes, eta=eta)  # fmt: skip

    def _start(
        self,
        workflow: Workflow | str,
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
        idempotency_key: str | None = None,
        namespace: str = "default",
        attributes: dict[str, Any] | None = None,
        eta: datetime | None = None,
    ) -> RunHandle:
        """Start a run (or return the existing one for a reused key or run id)."""
        wf = starting.workflow_version(self.registry, workflow)
        options = starting.StartOptions(run_id, idempotency_key, namespace, attributes, eta)
        new = starting.new_run(wf, args, kwargs, options, self.max_payload_bytes)
        self.schema.check()
        eager = starting.decides_first(self.eager, workflow, new)
        if self.hooks.enabled:
            insert = functools.partial(self._insert, eager=eager)
            return RunHandle(self, starting.traced(self.hooks, new, insert))
        return RunHandle(self, self._insert(new, eager)[0])

    def _insert(self, new: NewRun, eager: bool = False) -> tuple[str, bool]:
        """Insert the run, with its first decision if ``eager`` and it could be made
        here (see ``Advancer.first_decision``), then publish what the run needs
        next: (run id, created?)."""
        first = self.advancer.first_decision(first_lease(new)) if eager else None
        started = self.runs.start(new, first)
        if started.created:
            starting.publish_first(self.outbox, self.hooks, started, new.eta)
        return started.run_id, started.created

    def migrate(self) -> list[int]:
        """Create or update the schema; idempotent and safe to call concurrently."""
        return migrate(self.db)

    def upkeep(self) -> UpkeepReport:
        """One upkeep pass: what every worker runs every ``upkeep_interval`` seconds
        (a bootstep; beat only with ``upkeep_beat=True``), for tests and scripts."""
        return self.sweeper.run_once()
