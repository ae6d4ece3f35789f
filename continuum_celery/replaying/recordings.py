"""What a replay check needs of one run, whichever way the run reached us.

A run comes from the journal (a record and its events), from a file written by
``testing.record(...).save()``, or from a line written by ``continuum-celery
export``. Each is turned into one ``Recording``, so the check itself never cares
where a history was kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..engine.attributes import starting
from ..engine.context import WorkflowInfo
from ..engine.events import Event
from ..journal.records import RunRecord

REQUIRED = ("run_id", "workflow", "state", "args", "kwargs", "events")


class RecordedLike(Protocol):
    """``testing.RecordedRun``, without importing it (it re-exports this package)."""

    run_id: str
    workflow: str
    version: int
    args: list[Any]
    kwargs: dict[str, Any]
    state: str
    events: list[Event]


@dataclass(frozen=True)
class Recording:
    """A run's inputs and journal, and the state it was in when read."""

    run_id: str
    workflow: str
    version: int
    state: str
    args: list[Any]
    kwargs: dict[str, Any]
    events: Sequence[Event]
    namespace: str = "default"
    attributes: dict[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None
    depth: int = 0

    def info(self) -> WorkflowInfo:
        """As a worker builds it: attributes as the run started, before its upserts."""
        return WorkflowInfo(self.run_id, self.workflow, self.namespace,
                            starting(self.events, self.attributes), self.parent_run_id,
                            version=self.version, depth=self.depth)  # fmt: skip


def from_record(record: RunRecord, events: Sequence[Event]) -> Recording:
    return Recording(record.run_id, record.workflow, record.version, record.state,
                     record.args, record.kwargs, events, record.namespace, record.attributes,
                     record.parent_run_id, record.depth)  # fmt: skip


def from_recorded(recorded: RecordedLike) -> Recording:
    return Recording(recorded.run_id, recorded.workflow, recorded.version, recorded.state,
                     recorded.args, recorded.kwargs, recorded.events)  # fmt: skip


def from_mapping(raw: Mapping[str, Any], where: str = "history") -> Recording:
    """An export line or a saved recording, as parsed JSON; ``ValueError`` names
    what is missing or malformed, and where."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a JSON object, not {type(raw).__name__}")
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    try:
        return _recording(raw, [_event(item) for item in raw["events"]])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: malformed run: {type(error).__name__}: {error}") from None


def _recording(raw: Mapping[str, Any], events: list[Event]) -> Recording:
    return Recording(_text(raw["run_id"]), _text(raw["workflow"]), int(raw.get("version") or 0),
                     _text(raw["state"]), list(raw["args"]), dict(raw["kwargs"]), events,
                     raw.get("namespace") or "default", dict(raw.get("attributes") or {}),
                     raw.get("parent_run_id"), int(raw.get("depth") or 0))  # fmt: skip


def _event(item: Mapping[str, Any]) -> Event:
    return Event(int(item["seq"]), _text(item["type"]), item.get("command_id"),
                 dict(item.get("data") or {}))  # fmt: skip


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, not {type(value).__name__}")
    return value


def read_jsonl(path: str | Path) -> Iterator[Recording]:
    """Runs of an export file, one line at a time (constant memory); blank lines
    are skipped. A bad line raises ``ValueError`` naming ``path:line``."""
    with Path(path).open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield from_mapping(_parse(line, f"{path}:{number}"), f"{path}:{number}")


def _parse(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not JSON: {error}") from None
