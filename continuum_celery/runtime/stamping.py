"""What a replay's decision carries beyond the workflow's own commands.

New runs a decision starts (children, successors) are stamped with the newest
version of their code this worker has; and telemetry names what the pass decided.
"""

from __future__ import annotations

from ..definitions import Registry
from ..engine.commands import Decision
from ..errors import UnknownWorkflow
from ..journal.records import Lease


def stamp_versions(registry: Registry, lease: Lease, decision: Decision) -> None:
    """New runs (children, successors) start on the newest version known here."""
    for command in decision.commands:
        if command.type == "child_started":
            command.data["version"] = newest(registry, command.data["workflow"])
        elif command.type == "run_continued_as_new":
            command.data["version"] = newest(registry, lease.workflow)


def newest(registry: Registry, name: str) -> int:
    """The newest version here; 0 (the newest of the worker that first replays
    it) for a workflow this worker does not have, as a start by name."""
    try:
        return registry.workflow(name).version
    except UnknownWorkflow:
        return 0


_OUTCOMES = {"Suspended": "waiting", "CancelledOutcome": "cancelled"}


def outcome_of(decision: Decision) -> str:
    """What a replay pass decided, for telemetry: the run's end, or that it waits."""
    name = type(decision.outcome).__name__
    return _OUTCOMES.get(name, name.lower())
