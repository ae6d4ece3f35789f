"""Advance a run: lease it, replay it, commit the decisions, publish what they need.

This is the replay wakeup. It is safe to receive any number of times: without a
due wake marker the lease is not granted and nothing happens, and a replay whose
lease was taken over has its commit rejected.

Decisions come from a cache of resident workflow instances (``engine/residents.py``),
so a wake of a long run only runs its new part. The cache checks each history it
is handed, so a commit that rolled back or a run advanced elsewhere only costs one
replay from the top; nothing here has to tell it what was committed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from ..definitions import Registry, Workflow
from ..engine.attributes import starting
from ..engine.commands import Blocked, Decision, Failed
from ..engine.context import LiveSources, WorkflowInfo
from ..engine.residents import DEFAULT_CAPACITY, ResidentCache
from ..errors import FencingError, UnknownWorkflow
from ..journal.db import JournalRejected, JournalUnavailable
from ..journal.records import ClaimedTask, CommitResult, InlineOffer, Lease
from ..journal.store import RunStore
from ..journal.waking import SHORT_HISTORY
from ..payloads import DEFAULT_MAX_PAYLOAD_BYTES
from .hooks import NOOP, Hooks, guarded
from .keeper import KEEPER
from .report import report
from .stamping import outcome_of, stamp_versions
from .transport import Publisher, publish_activities, publish_commit

log = logging.getLogger("continuum_celery.advance")

MAX_ROUNDS = 1000
"""Replays per wakeup before yielding the worker; the run keeps its wake marker."""


class Advancer:
    def __init__(
        self,
        runs: RunStore,
        registry: Registry,
        publisher: Publisher,
        live: LiveSources,
        owner: str,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        resident_capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.residents = ResidentCache(resident_capacity)
        self._once = ResidentCache(0)
        """Replays whose instance is not kept (a start's first decision, a signal's)."""
        self.runs = runs
        self.registry = registry
        self.publisher = publisher
        self.live = live
        self.host = owner
        self.offer_inline: Callable[[], InlineOffer | None] | None = None
        """What a wakeup delivery may run itself of the activities its replay schedules."""
        self.run_inline: Callable[[ClaimedTask, InlineOffer | None], object] | None = None
        self.eager_wake = False
        """Try a wakeup as one transaction under the run-row lock before leasing
        (for a run held live here, or one with a short history)."""
        self.hooks: Hooks = NOOP
        """Telemetry: each replay pass, each run that ends, each fenced replay."""

    @property
    def owner(self) -> str:
        """Who holds a lease, for operators: host and the (forked) pool process."""
        return f"{self.host}:{os.getpid()}"

    def advance(self, run_id: str, inline: bool = True) -> bool:
        """Replay ``run_id`` until it waits or ends; False if there was nothing to do.
        With ``inline``, this delivery may run the activities it schedules itself."""
        offer = self.offer_inline() if self.offer_inline and inline else None
        claimed: list[ClaimedTask] = []
        try:
            done = self._wake_eagerly(run_id, offer, claimed) if self.eager_wake else None
            if done is None:
                done = self._advance_leased(run_id, offer, claimed)
        except Exception:
            self._run_claimed(claimed, offer)  # committed claims are ours, whatever came after
            raise
        self._run_claimed(claimed, offer)
        return done

    def advance_many(self, run_ids: list[str]) -> None:
        """Each run in turn, none taking on activities inline: one message waking many
        must not hold them all behind a run's activity bodies (those go out as
        messages, to any worker) nor outlast its time limit. A run that fails does
        not stop the rest: its wake marker stays, so upkeep wakes it again."""
        failed: Exception | None = None
        for run_id in run_ids:
            try:
                self.advance(run_id, inline=False)
            except Exception as error:
                log.warning("run %s: wakeup failed (%s); upkeep wakes it again", run_id, error)
                failed = failed or error
        if failed is not None:
            raise failed

    def _run_claimed(self, claimed: list[ClaimedTask], offer: InlineOffer | None) -> None:
        """Run what a committed decision claimed for this worker.

        Nobody else may take these attempts until their claims lapse, so they run
        here even when something failed after their commit (a publish, a database
        blip in a later replay round): otherwise each would wait out its claim and
        count as a lost attempt although its body never started.
        """
        for claim in claimed:
            if self.run_inline is not None:
                self.run_inline(claim, offer)

    def _wake_eagerly(
        self, run_id: str, offer: InlineOffer | None, claimed: list[ClaimedTask]
    ) -> bool | None:
        """Wake the run in one transaction per replay; None: take the lease path.

        A run held live here resumes in microseconds; any other is replayed from
        the top under the row lock only if its history is short (``waking``).
        """
        for rounds in range(MAX_ROUNDS):
            short = None if run_id in self.residents else SHORT_HISTORY
            try:
                result = self.runs.wake_eagerly(
                    run_id, self.decide, None if claimed else offer, short
                )
            except (JournalRejected, JournalUnavailable):
                return None  # the lease path fails the run saying why, or renews its lease
            if result is True:
                return rounds > 0
            if result is False:
                return None
            report(result.ending, self.hooks)
            if result.inline is not None:
                claimed.append(result.inline)
            publish_activities(self.publisher, result.tasks)
            for woken in result.wake:
                if woken != run_id:
                    self.publisher.publish_advance(woken)
            if run_id not in result.wake:  # no input left unseen: done
                return True
        self.publisher.publish_advance(run_id)  # still busy: the marker is set
        return True

    def _advance_leased(
        self, run_id: str, offer: InlineOffer | None, claimed: list[ClaimedTask]
    ) -> bool:
        lease = self.runs.acquire(run_id, self.owner)
        if lease is None:
            return False
        workflow = self._code_for(lease)
        if workflow is None:
            return False
        ticket = KEEPER.hold(lambda: self.runs.renew(lease), self.runs.lease_ttl)
        try:
            self._replay_until_settled(lease, workflow, offer, claimed)
        except FencingError as error:
            log.info("run %s: replay fenced out: %s", run_id, error)
            if self.hooks.enabled:
                guarded(self.hooks.fenced, "lease")
        finally:
            KEEPER.drop(ticket)
        return True

    def _code_for(self, lease: Lease) -> Workflow | None:
        """The run's workflow code, its version pinned first if it was started by
        name (version 0: the newest here); None when this worker cannot run it."""
        try:
            workflow = self.registry.workflow(lease.workflow, lease.version or None)
        except UnknownWorkflow as error:  # held until a worker with the code takes it
            self._commit(lease, Decision([], Blocked(f"{type(error).__name__}: {error}")), None)
            return None
        if lease.version == 0 and not self.runs.pin_version(lease, workflow.version):
            log.info("run %s: lease lost before its version was pinned", lease.run_id)
            return None
        return workflow

    def decide(self, lease: Lease) -> Decision | None:
        """A run's next decision (as a pure replay of it would be); None when this
        process lacks its workflow code, or the run's version is not pinned yet
        (only a leased replay pins it)."""
        if lease.version == 0:
            return None
        try:
            workflow = self.registry.workflow(lease.workflow, lease.version)
        except UnknownWorkflow:
            return None
        return self._decide(lease, workflow)

    def first_decision(self, lease: Lease) -> Decision | None:
        """A new run's first decision, replayed by the process that starts it, for
        the start to commit with the run; None when that replay cannot stand in for
        a worker's (see ``decide_once``), or the run has a parent (whose row a
        run's end must lock first)."""
        return None if lease.parent_run_id is not None else self.decide_once(lease)

    def decide_once(self, lease: Lease) -> Decision | None:
        """A run's next decision, replayed by a client (a start, a signal) for its
        own transaction to commit; None when that replay cannot stand in for a
        worker's: the code of that version is missing here (or the version is not
        pinned yet), or the replay failed or was blocked (say, by the determinism
        guard), which a worker's replay reports and retries.

        The instance is not kept: the process that starts or signals a run rarely
        advances it again.
        """
        if lease.version == 0:
            return None
        try:
            workflow = self.registry.workflow(lease.workflow, lease.version)
        except UnknownWorkflow:
            return None
        try:
            decision = self._decide(lease, workflow, self._once)
        except Exception:  # a worker's replay meets it again, and reports it
            log.warning("run %s: replay in the client failed", lease.run_id, exc_info=True)
            return None
        return None if isinstance(decision.outcome, Blocked) else decision

    def decide_signalled(self, lease: Lease) -> Decision | None:
        """``decide_once`` for a run a signal resumed, in the signal's transaction;
        a replay that would fail the run (its code raised) is left to a worker too:
        the signalling process (a web tier, say) may lack what the code needs, and
        a failure there would be final."""
        decision = self.decide_once(lease)
        return None if decision is None or isinstance(decision.outcome, Failed) else decision

    def _decide(
        self, lease: Lease, workflow: Workflow, cache: ResidentCache | None = None
    ) -> Decision:
        cache = self.residents if cache is None else cache  # an empty cache is falsy
        if not self.hooks.enabled:
            return self._replay(lease, workflow, cache)
        scope, outcome = (
            guarded(self.hooks.pass_begin, lease.run_id, lease.workflow, len(lease.history)),
            "error",
        )
        try:
            decision = self._replay(lease, workflow, cache)
            outcome = outcome_of(decision)
            return decision
        finally:
            guarded(self.hooks.pass_end, scope, outcome)

    def _replay(self, lease: Lease, workflow: Workflow, cache: ResidentCache) -> Decision:
        decision = cache.decide(
            workflow.fn,
            lease.args,
            lease.kwargs,
            lease.history,
            self._info(lease),
            self.live,
            self.max_payload_bytes,
            workflow.guarded,
        )
        stamp_versions(self.registry, lease, decision)
        return decision

    @staticmethod
    def _info(lease: Lease) -> WorkflowInfo:
        """The run as its code started: attributes before its own upserts, so a
        resident instance sees the same inputs on every wake."""
        return WorkflowInfo(
            lease.run_id,
            lease.workflow,
            lease.namespace,
            starting(lease.history, lease.attributes),
            lease.parent_run_id,
            version=lease.version,
            depth=lease.depth,
        )

    def _replay_until_settled(
        self,
        lease: Lease,
        workflow: Workflow,
        offer: InlineOffer | None = None,
        claimed: list[ClaimedTask] | None = None,
    ) -> None:
        """Replay and commit until the run waits; ``claimed`` collects inline claims."""
        for _ in range(MAX_ROUNDS):
            decision = self._decide(lease, workflow)
            result = self._commit(lease, decision, None if claimed else offer)
            if result.inline is not None and claimed is not None:
                claimed.append(result.inline)
            publish_commit(self.publisher, result)
            if not result.again:
                return
            self.runs.refresh(lease)
        self.runs.release(lease)  # still busy: give the worker back, keep the marker
        self.publisher.publish_advance(lease.run_id)

    def _commit(self, lease: Lease, decision: Decision, offer: InlineOffer | None) -> CommitResult:
        """Commit a decision; one Postgres cannot store fails the run, saying why.

        The payload check refuses such values before they reach the journal; this
        is the backstop, so that nothing the check misses can wedge a run in a
        wakeup that crashes forever.
        """
        try:
            result = self.runs.commit_decision(lease, decision, offer)
        except JournalRejected as error:
            log.error("run %s: decision refused by Postgres, failing the run: %s",
                      lease.run_id, error)  # fmt: skip
            failed = Decision([], Failed(f"{type(error).__name__}: {error}"))
            result = self.runs.commit_decision(lease, failed)
        report(result.ending, self.hooks)
        return result
