"""The test environment's run handle: ``RunHandle``'s methods, in virtual time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..client import ResultTimeout, Run
from ..engine.events import Event
from ..errors import RunCancelled, RunFailed, RunTerminated
from ..payloads import check_text, encode

if TYPE_CHECKING:
    from .environment import WorkflowEnvironment


class StuckRun(ResultTimeout):
    """``result()`` cannot return: the run waits for something nothing in the
    environment will ever do (a signal without a timeout, fitting code), or loops."""


class EnvRunHandle:
    """Like ``RunHandle``: ``result()`` runs the environment until the run ends,
    skipping time whenever nothing else can happen."""

    def __init__(self, env: WorkflowEnvironment, run_id: str) -> None:
        self._env = env
        self.run_id = run_id
        self.id = run_id

    @property
    def state(self) -> str:
        """The state of the chain's newest run, as time stands now."""
        return self.get_run().state

    def get_run(self) -> Run:
        return self._env.journal.runs.tip(self.run_id).public()

    def result(self) -> Any:
        """The run's value, or ``RunFailed`` / ``RunCancelled``; ``StuckRun`` when it
        can never end (a blocked run says why)."""
        run = self._env.drive(self.run_id).public()
        if run.state == "completed":
            return run.result
        if run.state == "cancelled":
            raise RunCancelled(run.run_id)
        if run.state == "terminated":
            raise RunTerminated(run.run_id, run.error or "terminated")
        if run.state == "failed":
            raise RunFailed(run.run_id, run.error or "failed")
        if run.state == "blocked":
            raise StuckRun(f"run {run.run_id} is blocked (it waits for fitting code): {run.error}")
        raise StuckRun(f"run {run.run_id} is {run.state}, waiting on {self.waiting_on()} "
                       "with nothing due that could resolve it")  # fmt: skip

    get = result

    def waiting_on(self) -> list[str]:
        """Command ids of the open timers and signal waits of the chain's newest run."""
        return list(self._env.journal.runs.tip(self.run_id).waits)

    def signal(self, name: str, payload: Any = None) -> None:
        """Deliver a signal now and let the run react before returning; checked as
        ``Continuum.signal`` checks it."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"signal name must be a non-empty str, not {name!r}")
        check_text(name, "signal name")
        encode(payload, f"payload of signal {name!r}", self._env.max_payload_bytes)
        self._env.journal.signal(self.run_id, name, payload)
        self._env.run_until_idle()

    def cancel(self, reason: str | None = None) -> None:
        """Ask the run (and its children) to cancel; ``workflow.Cancelled`` is raised
        at the wait it is at, so it may clean up."""
        self._env.journal.cancel(self.run_id, reason)
        self._env.run_until_idle()

    def terminate(self, reason: str) -> None:
        """Stop the run (and its children) now; no workflow code runs."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("terminate needs a reason (who reads the run later will ask)")
        self._env.journal.terminate(self.run_id, reason)
        self._env.run_until_idle()

    def history(self) -> list[Event]:
        """This run's own events, as ``RunHandle.history()`` (a continue-as-new
        successor has its own: ``env.journal.runs.tip(run_id)``)."""
        return list(self._env.journal.runs.get(self.run_id).history)

    def __repr__(self) -> str:
        return f"<EnvRunHandle {self.run_id}>"
