"""The client calls on ``Continuum`` that name one run: a handle, its row, a signal
to it, its activities and its history.

A mixin, as ``operating.Operations`` is, so that ``core.py`` keeps to wiring,
declarations and starts; each method checks its arguments and reads or writes
through the journal's stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from . import ops
from .client import Run, RunHandle, public_run
from .engine.events import Event
from .journal.records import TaskStatus
from .payloads import check_text, encode
from .runids import check_run_id
from .runtime.hooks import guarded

if TYPE_CHECKING:
    from .core import Continuum


class RunAccess:
    """Mixed into ``Continuum``; every method runs on a ``Continuum``."""

    @property
    def _cx(self) -> Continuum:
        return cast("Continuum", self)

    def run(self, run_id: str) -> RunHandle:
        """A handle on an existing run; raises RunNotFound for an unknown id."""
        run_id = check_run_id(run_id)
        self.get_run(run_id)
        return RunHandle(self._cx, run_id)

    def get_run(self, run_id: str) -> Run:
        self._cx.schema.check()
        return public_run(self._cx.runs.get_run(check_run_id(run_id)))

    def signal(
        self,
        run_id: str,
        name: str,
        payload: Any = None,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Deliver a signal; buffered until the workflow waits for it. Audited with
        ``actor`` (default: the engine's ``actor``) and ``reason``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"signal name must be a non-empty str, not {name!r}")
        check_text(name, "signal name")
        encode(payload, f"payload of signal {name!r}", self._cx.max_payload_bytes)
        by = ops.acting(self._cx, actor, reason)
        self._cx.schema.check()
        run_id = check_run_id(run_id)
        if not self._cx.hooks.enabled:
            ops.signal(self._cx, run_id, name, payload, by)
            return
        scope = guarded(self._cx.hooks.signal_begin, run_id, name)
        try:  # the run's wakeup is published inside the signal's span
            ops.signal(self._cx, run_id, name, payload, by)
        finally:
            guarded(self._cx.hooks.instant_end, scope)

    def activity_tasks(self, run_id: str) -> list[TaskStatus]:
        """A run's activities with attempt, state and latest heartbeat details."""
        run_id = check_run_id(run_id)
        self._cx.schema.check()
        self._cx.runs.get_run(run_id)
        return self._cx.tasks.of_run(run_id)

    def history(self, run_id: str) -> list[Event]:
        run_id = check_run_id(run_id)
        self._cx.schema.check()
        self._cx.runs.get_run(run_id)
        return self._cx.runs.history(run_id)
