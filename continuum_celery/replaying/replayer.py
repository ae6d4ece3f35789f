"""``Replayer``: recorded runs against today's workflow code, reporting drift.

The same check from Python (tests, notebooks) as ``continuum-celery
replay-check`` runs in CI: replay histories read from the journal, from recorded
files or from export files, with the engine's own replay, and list every run the
code would strand. Runs are streamed one at a time, so a check over a million runs
holds one page of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import TERMINAL_STATES
from ..core import Continuum
from ..definitions import Registry, Workflow
from ..errors import UnknownWorkflow
from ..runids import check_run_id
from .recordings import (
    RecordedLike,
    Recording,
    from_mapping,
    from_record,
    from_recorded,
    read_jsonl,
)
from .selection import journal_recordings
from .verdict import Drift, judge, missing_code, replay_recording


@dataclass(frozen=True)
class ReplayResult:
    """One run checked: its drift, or why it was not replayed (``skipped``)."""

    run_id: str
    workflow: str
    state: str
    drift: Drift | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.drift is None


@dataclass
class ReplayReport:
    """Many runs checked: counts, and every drift (clean runs are only counted)."""

    replayed: int = 0
    skipped: int = 0
    drifts: list[Drift] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drifts

    def add(self, result: ReplayResult) -> ReplayResult:
        if result.skipped is not None:
            self.skipped += 1
        else:
            self.replayed += 1
        if result.drift is not None:
            self.drifts.append(result.drift)
        return result


class Replayer:
    """Replays recorded runs against the workflows of ``source``: a ``Continuum``
    (its registered workflows, and its journal for ``replay_run``) or workflows."""

    def __init__(self, source: Continuum | Iterable[Workflow]) -> None:
        self.cx: Continuum | None = source if isinstance(source, Continuum) else None
        self.registry = _registry(source)

    def replay(self, history: RecordedLike | Mapping[str, Any] | Recording) -> ReplayResult:
        """One run: a ``testing.RecordedRun``, or a run as JSON (an export line, or
        a file ``RecordedRun.save`` wrote, parsed)."""
        return self.check(_recording(history))

    def replay_run(self, run_id: str) -> ReplayResult:
        """One run, read from the journal, in whatever state it is.

        The run row is read before its events: a run that advances in between only
        looks less finished than its history, which is never mistaken for drift.
        """
        cx = self._journal("replay_run")
        cx.schema.check()
        record = cx.runs.get_run(check_run_id(run_id))
        return self.check(from_record(record, cx.runs.history(record.run_id)))

    def replay_jsonl(self, path: str | Path, workflow: str | None = None) -> ReplayReport:
        """Every run of a ``continuum-celery export`` file (of ``workflow`` only)."""
        return self.report(self.iter_jsonl(path, workflow))

    def iter_jsonl(self, path: str | Path, workflow: str | None = None) -> Iterator[ReplayResult]:
        """``replay_jsonl`` one run at a time, for files of any size."""
        self._known(workflow)
        return self._jsonl(path, workflow)

    def _jsonl(self, path: str | Path, workflow: str | None) -> Iterator[ReplayResult]:
        for recording in read_jsonl(path):
            if workflow is None or recording.workflow == workflow:
                yield self.check(recording)

    def iter_journal(
        self, query: str = "", *, workflow: str | None = None, since: str | None = None,
        limit: int | None = None, page: int = 500,
    ) -> Iterator[ReplayResult]:  # fmt: skip
        """Runs of the journal matching the filters, oldest first, a page at a time."""
        self._known(workflow)
        found = journal_recordings(self._journal("iter_journal"), query, workflow, since, limit,
                                   page)  # fmt: skip
        return (self.check(recording) for recording in found)

    def _known(self, workflow: str | None) -> None:
        """Checking runs of a workflow this code lacks is a mistake, not a pass."""
        if workflow is not None:
            self.registry.workflow(workflow)

    @staticmethod
    def report(results: Iterable[ReplayResult]) -> ReplayReport:
        report = ReplayReport()
        for result in results:
            report.add(result)
        return report

    def check(self, recording: Recording) -> ReplayResult:
        """Replay ``recording``; a run whose code is missing is a drift while it is
        in flight (a deploy would block it) and skipped once it has ended."""
        try:
            code = self.registry.workflow(recording.workflow, recording.version or None)
        except UnknownWorkflow as error:
            return self._no_code(recording, str(error))
        decision, state = replay_recording(recording, code.fn, code.max_payload_bytes,
                                           code.guarded)  # fmt: skip
        return _result(recording, drift=judge(recording, decision, state))

    @staticmethod
    def _no_code(recording: Recording, why: str) -> ReplayResult:
        if recording.state in TERMINAL_STATES:
            return _result(recording, skipped=why)
        return _result(recording, drift=missing_code(recording, why), skipped=why)

    def _journal(self, what: str) -> Continuum:
        if self.cx is None:
            raise TypeError(f"Replayer.{what} reads the journal: build it from a Continuum")
        return self.cx


def _result(
    recording: Recording, drift: Drift | None = None, skipped: str | None = None
) -> ReplayResult:
    return ReplayResult(recording.run_id, recording.workflow, recording.state, drift, skipped)


def _recording(history: Any) -> Recording:
    if isinstance(history, Recording):
        return history
    if isinstance(history, Mapping):
        return from_mapping(history)
    if all(hasattr(history, name) for name in ("run_id", "workflow", "events", "state")):
        return from_recorded(history)
    raise TypeError(f"expected a recorded run or its JSON, not {type(history).__name__}")


def _registry(source: Any) -> Registry:
    if isinstance(source, Continuum):
        registry: Registry = source.registry
        return registry
    if isinstance(source, Workflow) or not isinstance(source, Iterable):
        raise TypeError("Replayer takes a Continuum or an iterable of workflows")
    registry = Registry()
    for item in source:
        if not isinstance(item, Workflow):
            raise TypeError(f"Replayer takes workflows, not {type(item).__name__}")
        registry.add_workflow(item)
    return registry
