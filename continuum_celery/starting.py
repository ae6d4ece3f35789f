"""Starting a run: which workflow version, the new run's record, its first wakeup.

Kept apart from ``Continuum`` so that the checks a start makes (names, arguments,
options) read in one place; nothing here writes: the journal inserts the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .checks import check_start_options, check_workflow_name
from .definitions import Registry, Workflow
from .errors import UnknownWorkflow
from .journal.records import NewRun
from .journal.settling import SHORT_DELAY
from .journal.starts import Started
from .payloads import encode, normalize_args
from .runids import new_run_id
from .runtime.hooks import Hooks, guarded
from .runtime.report import report
from .runtime.transport import Publisher, publish_commit


@dataclass(frozen=True)
class StartOptions:
    run_id: str | None
    idempotency_key: str | None
    namespace: str
    attributes: dict[str, Any] | None
    eta: datetime | None


def workflow_version(registry: Registry, workflow: Workflow | str) -> tuple[str, int]:
    """(name, version) for a new run: the newest version registered here, or 0
    for a name this process does not know, which the first worker to replay the
    run pins to the newest version it has."""
    name = workflow.name if isinstance(workflow, Workflow) else check_workflow_name(workflow)
    try:
        return name, registry.workflow(name).version
    except UnknownWorkflow:
        return name, 0


def new_run(
    wf: tuple[str, int], args: Any, kwargs: Any, options: StartOptions, limit: int
) -> NewRun:
    """The run to insert, every value checked as the journal will store it."""
    name, version = wf
    arg_list, kw = normalize_args(args, kwargs, f"arguments of {name}", limit)
    attrs = options.attributes or {}
    encode(attrs, "attributes", limit)
    check_start_options(options.idempotency_key, options.namespace, options.eta)
    return NewRun(run_id=new_run_id(options.run_id), workflow=name, version=version,
                  args=arg_list, kwargs=kw, namespace=options.namespace, attributes=attrs,
                  idempotency_key=options.idempotency_key, eta=options.eta)  # fmt: skip


def decides_first(eager: bool, workflow: Workflow | str, new: NewRun) -> bool:
    """Whether the start replays the run to its first decision itself: the caller
    passed the workflow's code (a start by name may have none), and the run is due
    now (an ``eta`` start waits for its time, as a wakeup)."""
    return eager and isinstance(workflow, Workflow) and new.eta is None


def publish_first_wake(outbox: Publisher, run_id: str, eta: datetime | None) -> None:
    """Wake the new run now, or by countdown for a near eta; upkeep covers far ones."""
    delay = 0.0 if eta is None else (eta - datetime.now(UTC)).total_seconds()
    if delay <= 0:
        outbox.publish_advance(run_id)
    elif delay <= SHORT_DELAY:
        outbox.publish_advance(run_id, countdown=delay)


def publish_first(outbox: Publisher, hooks: Hooks, started: Started, eta: datetime | None) -> None:
    """After an eager start committed: publish what its first decision needs (its
    activities, a child's wakeup), or the first wakeup if it had no decision."""
    first = started.first
    if first is None:
        publish_first_wake(outbox, started.run_id, eta)
        return
    report(first.ending, hooks)
    publish_commit(outbox, first)


def traced(hooks: Hooks, new: NewRun, insert: Callable[[NewRun], tuple[str, bool]]) -> str:
    """``insert(new)`` inside the start's telemetry, storing the caller's trace context
    with the run so that all its later spans join the caller's trace."""
    scope, carrier = guarded(hooks.start_begin, new.workflow) or (None, None)
    run_id, created = None, False
    try:
        run_id, created = insert(dataclasses.replace(new, trace_context=carrier or None))
        return run_id
    finally:
        if scope is not None:
            guarded(hooks.start_end, scope, run_id, created)
