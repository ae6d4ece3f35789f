"""Helpers for your own tests: record a run's history and replay it against new code.

Put recorded histories of real runs in your repository and replay them in CI:
an edit that would break runs already in flight fails the build with a
``ReplayDriftError`` naming the position, instead of failing those runs in
production.

    from continuum_celery import testing

    testing.record(cx, run_id).save("tests/histories/order.json")   # once
    testing.assert_replays("tests/histories/order.json", order_flow)  # in CI
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.commands import Blocked, Completed, Continued, Decision, Failed, Suspended
from ..engine.context import WorkflowInfo
from ..engine.events import Event
from ..engine.replay import replay
from ..errors import ReplayDriftError
from ..replaying import Drift as Drift
from ..replaying import Replayer as Replayer
from ..replaying import ReplayReport as ReplayReport
from ..replaying import ReplayResult as ReplayResult

if TYPE_CHECKING:
    from ..core import Continuum

FORMAT = 1


@dataclass
class RecordedRun:
    """A run's inputs, its journal and how it ended: all replay needs, as JSON."""

    run_id: str
    workflow: str
    version: int
    args: list[Any]
    kwargs: dict[str, Any]
    state: str
    result: Any
    error: str | None
    events: list[Event] = field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")
        return target

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "run_id": self.run_id,
            "workflow": self.workflow,
            "version": self.version,
            "args": self.args,
            "kwargs": self.kwargs,
            "state": self.state,
            "result": self.result,
            "error": self.error,
            "events": [
                {"seq": e.seq, "type": e.type, "command_id": e.command_id, "data": e.data}
                for e in self.events
            ],
        }

    @classmethod
    def load(cls, path: str | Path) -> RecordedRun:
        raw = json.loads(Path(path).read_text())
        if raw.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown history format {raw.get('format')!r}")
        events = [Event(e["seq"], e["type"], e["command_id"], e["data"]) for e in raw["events"]]
        return cls(raw["run_id"], raw["workflow"], raw["version"], raw["args"], raw["kwargs"],
                   raw["state"], raw["result"], raw["error"], events)  # fmt: skip


def record(cx: Continuum, run_id: str) -> RecordedRun:
    """Capture a run from the journal (any state)."""
    run = cx.get_run(run_id)
    return RecordedRun(run.run_id, run.workflow, run.version, run.args, run.kwargs, run.state,
                       run.result, run.error, cx.history(run_id))  # fmt: skip


class _ReplayOnly:
    """Live sources for a check: reaching the live tail here means new decisions."""

    def now(self) -> datetime:
        return datetime(2000, 1, 1, tzinfo=UTC)

    def uuid4(self) -> str:
        return "00000000-0000-4000-8000-000000000000"

    def random(self) -> float:
        return 0.0


def replay_recorded(recorded: RecordedRun, fn: Callable[..., Any]) -> Decision:
    """Replay a recorded run against ``fn`` (a workflow or its function); no I/O."""
    function = getattr(fn, "fn", fn)
    info = WorkflowInfo(recorded.run_id, recorded.workflow, version=recorded.version)
    guarded = getattr(fn, "guarded", True)
    return replay(function, recorded.args, recorded.kwargs, recorded.events, info, _ReplayOnly(),
                  guarded=guarded)  # fmt: skip


def assert_replays(source: RecordedRun | str | Path, fn: Callable[..., Any]) -> Decision:
    """Fail unless ``fn`` reproduces the recorded run exactly.

    Raises :class:`ReplayDriftError` on drift, and ``AssertionError`` when the code
    replays cleanly but would now end differently (another result, new effects).
    """
    recorded = source if isinstance(source, RecordedRun) else RecordedRun.load(source)
    decision = replay_recorded(recorded, fn)
    outcome = decision.outcome
    if isinstance(outcome, Blocked):
        raise ReplayDriftError(None, "the recorded history", outcome.error)
    expected = _expected_outcome(recorded)
    if outcome != expected or decision.commands:
        new = [f"{c.type} {c.command_id}" for c in decision.commands]
        raise AssertionError(
            f"replaying {recorded.workflow} run {recorded.run_id}: expected {expected}, "
            f"got {outcome} with new decisions {new}"
        )
    return decision


def _expected_outcome(recorded: RecordedRun) -> Any:
    if recorded.state == "completed":
        return Completed(recorded.result)
    if recorded.state == "failed":
        return Failed(recorded.error or "")
    if recorded.state == "continued":
        return Continued(str((recorded.result or {}).get("continued_to")))
    return _AnySuspension()  # still waiting, or cancelled while waiting


class _AnySuspension:
    """Matches any suspension: a waiting run replays to waiting, whatever on."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Suspended)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "Suspended(...)"
