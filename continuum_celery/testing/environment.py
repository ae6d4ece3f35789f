"""``WorkflowEnvironment``: run workflows in a test with no Postgres, no broker and
no wall-clock waiting.

Decisions come from the engine the workers use (``engine/residents.py`` over
``engine/replay.py``, the determinism guard included); the in-memory journal
writes them with the journal's semantics, and activities run in-process. Time is
virtual: when nothing can run, the clock jumps to the next due timer, signal
timeout or retry (auto time-skipping), so a 30-day sleep takes milliseconds.
Each environment keeps all of its state to itself: safe under pytest-xdist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..client import Run
from ..definitions import Registry, Workflow
from ..engine.attributes import starting
from ..engine.commands import Blocked, Decision
from ..engine.context import WorkflowInfo
from ..engine.residents import DEFAULT_CAPACITY, ResidentCache
from ..errors import UnknownWorkflow
from ..payloads import DEFAULT_MAX_PAYLOAD_BYTES, normalize_args
from ..runids import new_run_id
from ..starting import workflow_version
from .activities import ActivityRunner
from .clock import EPOCH, VirtualClock
from .handle import EnvRunHandle, StuckRun
from .journal import MemoryJournal
from .memory import MemoryRun
from .schedules import EnvSchedules

if TYPE_CHECKING:
    from ..core import Continuum

MAX_STEPS = 100_000
"""Replays and attempts one drive may take before it calls the run stuck in a loop."""


class WorkflowEnvironment:
    """The workflows and activities of ``cx``, run in memory under virtual time."""

    def __init__(self, cx: Continuum | Registry, start: datetime = EPOCH, seed: int = 0,
                 residents: bool = True) -> None:  # fmt: skip
        self.registry = cx if isinstance(cx, Registry) else cx.registry
        self.max_payload_bytes: int = getattr(cx, "max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES)
        self.clock = VirtualClock(start, seed)
        self.activities = ActivityRunner(self.registry, MemoryJournal(self.clock, self._task))
        self.journal = self.activities.journal
        self.residents = ResidentCache(DEFAULT_CAPACITY if residents else 0)
        self.schedules = EnvSchedules(self.registry, self.journal, self.max_payload_bytes)
        """``create`` and ``runs``; schedules declared with ``@cx.schedule`` are here too."""
        self.schedules.declare_all(getattr(getattr(cx, "schedules", None), "declared", {}))

    def _task(self, run: MemoryRun, kind: str, command_id: str, data: dict[str, Any]) -> None:
        self.activities.schedule(run, kind, command_id, data)

    # --- the public surface --------------------------------------------------------------

    def now(self) -> datetime:
        """The environment's virtual time."""
        return self.clock.now()

    def mock_activity(self, name: str, fn: Callable[..., Any]) -> None:
        """Run ``fn`` instead of the activity registered as ``name`` (or one that is not)."""
        self.activities.mock(name, fn)

    def start(self, workflow: Workflow | str, *args: Any, **kwargs: Any) -> EnvRunHandle:
        """Start a run and take it as far as it goes without time passing."""
        name, version = workflow_version(self.registry, workflow)
        if version == 0:
            raise UnknownWorkflow(f"no workflow named {name!r} is registered")
        arg_list, kw = normalize_args(args, kwargs, f"arguments of {name}", self.max_payload_bytes)
        data = {"workflow": name, "child_run_id": new_run_id(self.clock.uuid4()),
                "version": version, "args": arg_list, "kwargs": kw}  # fmt: skip
        run = self.journal.spawn(data, {}, continued_from=None)
        self.run_until_idle()
        return EnvRunHandle(self, run.run_id)

    def get_run(self, run_id: str) -> Run:
        """A run of this environment as ``cx.get_run`` shows one (``RunNotFound`` if none)."""
        return self.journal.runs.get(run_id).public()

    def sleep(self, duration: timedelta | float) -> None:
        """Move time on by hand, firing what falls due on the way, in order."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"sleep takes a timedelta or seconds >= 0, not {duration!r}")
        target = self.clock.after(seconds)
        self.run_until_idle()
        while (at := self.journal.timeline.next_at()) is not None and at <= target:
            self.clock.move_to(at)
            self.run_until_idle()
        self.clock.move_to(target)
        self.run_until_idle()

    def restart_workers(self) -> None:
        """Forget every resident instance, as a deploy restarting all workers would:
        the next wake of each run replays it from the top against the code as it is
        now, and blocked runs are tried again (upkeep does that on workers)."""
        self.residents.clear()
        for run in self.journal.runs.by_id.values():
            if run.state == "blocked":
                self.journal.mark_wake(run)
        self.run_until_idle()

    def close(self) -> None:
        """Unwind the resident instances of runs still waiting (the ``cx_env`` fixture
        does this after each test), as a worker does when it drops them."""
        self.residents.clear()

    def __enter__(self) -> WorkflowEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- driving ------------------------------------------------------------------------

    def run_until_idle(self) -> None:
        """Replay woken runs and run ready attempts until nothing more happens now."""
        for _ in range(MAX_STEPS):
            if self.journal.wake:
                self._advance(self.journal.runs.get(self.journal.wake.pop(0)))
            elif not self.activities.run_next():
                fire = self.journal.timeline.pop_due(self.clock.now())
                if fire is not None:
                    fire()
                elif not self.schedules.settle_buffered():
                    return
        raise StuckRun(f"still busy after {MAX_STEPS} steps at {self.clock.now()}: a loop?")

    def drive(self, run_id: str) -> MemoryRun:
        """Run until ``run_id``'s chain ends, skipping time whenever all is idle."""
        while True:
            self.run_until_idle()
            run = self.journal.runs.tip(run_id)
            if not run.active or run.state == "blocked":
                return run
            at = self.journal.timeline.next_at()
            if at is None or not self.journal.timeline.busy():
                return run  # waits for something only the test can give
            self.clock.move_to(at)

    def _advance(self, run: MemoryRun) -> None:
        if not run.active:
            return
        try:
            workflow = self.registry.workflow(run.workflow, run.version or None)
        except UnknownWorkflow as error:
            self.journal.apply(run, Decision([], Blocked(f"{type(error).__name__}: {error}")))
            return
        run.version = workflow.version
        decision = self.residents.decide(workflow.fn, run.args, run.kwargs, run.history,
                                         self._info(run), self.clock, workflow.max_payload_bytes,
                                         workflow.guarded)  # fmt: skip
        self._stamp_versions(run, decision)
        self.journal.apply(run, decision)

    @staticmethod
    def _info(run: MemoryRun) -> WorkflowInfo:
        return WorkflowInfo(run.run_id, run.workflow, "default",
                            starting(run.history, run.attributes), run.parent_run_id,
                            version=run.version, depth=run.depth)  # fmt: skip

    def _stamp_versions(self, run: MemoryRun, decision: Decision) -> None:
        """New runs (children, successors) start on the newest version, as on workers."""
        for command in decision.commands:
            if command.type == "child_started":
                command.data["version"] = workflow_version(self.registry, command.data["workflow"])[
                    1
                ]
            elif command.type == "run_continued_as_new":
                command.data["version"] = workflow_version(self.registry, run.workflow)[1]
