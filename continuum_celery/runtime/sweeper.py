"""Upkeep: recover from Postgres whatever the broker lost or a worker dropped.

Driven by the upkeep loop inside every worker (``upkeep_loop.py``; one leads at a
time), or by ``celery beat`` when opted in. Every step is safe to run from several
processes at once: rows are picked with SKIP LOCKED or resolved with
compare-and-swap, and re-publishing a message is harmless.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import FencingError
from ..journal.firing import ScheduleFiring
from ..journal.gauges import read_backlog
from ..journal.records import Settled
from ..journal.sweep import SweepStore
from ..journal.tasks import TaskStore
from ..journal.timer_firing import fire_due_waits
from .attempts import log_lost
from .hooks import Hooks, guarded
from .perform import Performer
from .schedules import ScheduleUpkeep
from .transport import Publisher

log = logging.getLogger("continuum_celery.upkeep")


@dataclass(frozen=True)
class UpkeepSettings:
    """Recovery delays, in seconds. See docs/operations.md for how to tune them."""

    wake_stale_after: float = 5.0
    """Re-publish a run's wakeup when its wake marker is this old and unleased."""
    task_stale_after: float = 30.0
    """Re-publish a ready activity attempt published this long ago and never claimed."""
    backoff_cap: float = 300.0
    """Each further re-publish of the same message waits twice as long, up to this."""
    batch: int = 500
    schedule_lanes: int = 2
    """Connections that fire due schedules side by side once a pass finds its batch
    full (thousands due on one minute); 1 on a machine whose cores are busy anyway."""
    leader_ttl: float = 3.0
    """How long the upkeep leader's hold lasts unless renewed; a worker that dies
    leading is replaced this long (plus about a second) after its last renewal."""
    bulk_batch: int = 100
    """Bulk job items carried out per sweep (about one sweep a second), so a big
    job paces itself instead of flooding the workers."""
    retention: float | None = None
    """Delete finished runs this many seconds after they finished; None keeps them.
    Set through ``Continuum(retention=)``."""


@dataclass
class UpkeepReport:
    timers_fired: int = 0
    claims_expired: int = 0
    tasks_published: int = 0
    runs_woken: int = 0
    runs_deleted: int = 0
    job_items: int = 0


class Sweeper:
    def __init__(
        self,
        sweep: SweepStore,
        tasks: TaskStore,
        publisher: Publisher,
        performer: Performer,
        settings: UpkeepSettings,
    ) -> None:
        self.sweep = sweep
        self.tasks = tasks
        self.publisher = publisher
        self.performer = performer
        self.settings = settings
        firing = ScheduleFiring(sweep.db, sweep.scope)
        self.schedules = ScheduleUpkeep(firing, publisher, settings.batch,
                                        settings.schedule_lanes)  # fmt: skip
        self.next_due: tuple[float, float | None] | None = None
        """(monotonic time read, seconds then until the next wait or schedule)."""
        self.jobs: Callable[[], int] | None = None
        """One batch of bulk job items (``bulk.worker``); set by the engine."""

    @property
    def hooks(self) -> Hooks:
        """The performer's telemetry: upkeep reports to the same place."""
        return self.performer.hooks

    def run_once(self) -> UpkeepReport:
        started = time.monotonic()
        report = self._sweep()
        if self.hooks.enabled:
            self._observe(time.monotonic() - started)
        return report

    def _observe(self, seconds: float) -> None:
        """Tell telemetry how long the sweep took, with the journal's backlog."""
        hooks = self.hooks
        backlog = None
        if hooks.wants_backlog:
            backlog = guarded(read_backlog, self.sweep.db, self.sweep.scope)
        guarded(hooks.upkeep_swept, seconds, backlog)

    def _sweep(self) -> UpkeepReport:
        report = UpkeepReport()
        report.timers_fired = self.fire_timers()
        report.claims_expired = self._expire_claims()
        report.tasks_published = self._publish_tasks()
        report.runs_woken = self._wake_runs()
        report.runs_deleted = self._apply_retention()
        report.job_items = self._carry_out_jobs()
        return report

    def _carry_out_jobs(self) -> int:
        """Last, and never in the way of the rest: a fault here is logged, and the
        batch (rolled back) is tried again next sweep."""
        if self.jobs is None:
            return 0
        try:
            return self.jobs()
        except Exception:
            log.error("upkeep: a bulk job batch failed; trying again next sweep", exc_info=True)
            return 0

    def fire_timers(self) -> int:
        """Fire the waits that are due; the leader calls this alone between sweeps.

        Schedules go first, so the read of the next due time that comes with the
        waits' firing already sees the schedules' new fire times.
        """
        self.schedules.fire_schedules()
        fired = fire_due_waits(self.sweep.db, self.sweep.scope, self.settings.batch)
        self.next_due = (time.monotonic(), fired.next_due_in)
        for run_id, command_id in fired.waits:
            self._wake_fired(run_id, command_id)
        return len(fired.waits)

    def next_wait_in(self) -> float | None:
        """Seconds until the next wait or schedule is due, as the last firing read
        it, so the leader needs no read of its own (``next_due`` must be set)."""
        assert self.next_due is not None
        read_at, due_in = self.next_due
        return None if due_in is None else due_in - (time.monotonic() - read_at)

    def _wake_fired(self, run_id: str, timer_id: str) -> None:
        """Wake the run; under its timer's telemetry, so the wakeup joins its trace."""
        hooks = self.hooks
        if not hooks.enabled:
            self.publisher.publish_advance(run_id)
            return
        scope = guarded(hooks.timer_begin, run_id, timer_id)
        try:
            self.publisher.publish_advance(run_id)
        finally:
            guarded(hooks.instant_end, scope)

    def _expire_claims(self) -> int:
        expired = 0
        for task_id in self.sweep.expired_claims(self.tasks.claim_ttl, self.settings.batch):
            try:
                settled = self.tasks.expire(task_id, random.random())
            except FencingError as error:
                log.info("expired claim %s left alone: %s", task_id, error)
                continue
            if settled is not None:
                expired += 1
                self.performer.publish_settled(settled)
                self._report(settled)
        return expired

    def _report(self, settled: Settled) -> None:
        """A lost attempt is a failed one: logged, and shown where its task is shown."""
        if settled.lost is None:
            return
        log_lost(settled.lost)
        if self.hooks.enabled:
            guarded(self.hooks.attempt_lost, settled.lost)
        try:
            self.performer.observer.lost(settled.lost)
        except Exception:  # a view of the journal: never stop upkeep over it
            log.warning("reporting a lost attempt failed", exc_info=True)

    def _publish_tasks(self) -> int:
        settings = self.settings
        messages = self.sweep.tasks_to_publish(
            settings.task_stale_after, settings.backoff_cap, settings.batch
        )
        for message in messages:
            self.publisher.publish_activity(message)
        return len(messages)

    def _wake_runs(self) -> int:
        settings = self.settings
        run_ids = self.sweep.runs_to_wake(
            settings.wake_stale_after, settings.backoff_cap, settings.batch
        )
        for run_id in run_ids:
            self.publisher.publish_advance(run_id)
        return len(run_ids)

    def _apply_retention(self) -> int:
        """One bounded batch per tick, so a backlog of old runs (retention just
        turned on) drains over many ticks instead of stalling timers in one."""
        if self.settings.retention is None:
            return 0
        return self.prune(self.settings.retention, self.settings.batch)

    def prune(self, older_than: float, batch: int) -> int:
        """Delete one batch of finished runs older than ``older_than`` seconds."""
        deleted = self.sweep.delete_finished(older_than, batch)
        if deleted:
            log.info("retention: deleted %d finished run(s) older than %gs", deleted, older_than)
        return deleted

    def wake_blocked(self) -> int:
        """At worker start: offer every blocked run to the workers at once."""
        run_ids = self.sweep.wake_blocked()
        for run_id in run_ids:
            self.publisher.publish_advance(run_id)
        if run_ids:
            log.info("offered %d blocked run(s) to the workers again", len(run_ids))
        return len(run_ids)
