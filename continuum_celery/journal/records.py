"""Plain records that cross the journal boundary (no SQLAlchemy types leak out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..engine.events import Event

DEFAULT_SCOPE = "default"
"""The scope of runs started before scopes existed, and of an app that names none:
one app per database needs no configuration (see ``Continuum(scope=)``)."""


@dataclass(frozen=True)
class NewRun:
    run_id: str
    workflow: str
    args: list[Any]
    kwargs: dict[str, Any]
    version: int = 1
    namespace: str = "default"
    attributes: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    eta: datetime | None = None
    trace_context: dict[str, str] | None = None
    """The starting caller's trace context (W3C headers), when tracing is on."""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    workflow: str
    version: int
    namespace: str
    state: str
    args: list[Any]
    kwargs: dict[str, Any]
    result: Any
    error: str | None
    attributes: dict[str, Any]
    idempotency_key: str | None
    parent_run_id: str | None
    created_at: datetime
    completed_at: datetime | None
    wake_at: datetime | None
    depth: int = 0
    continued_from: str | None = None
    next_run_id: str | None = None
    correlation_id: str | None = None
    traceback: str | None = None
    cancel_requested_at: datetime | None = None
    cancel_reason: str | None = None
    forked_from: str | None = None
    fork_seq: int | None = None


@dataclass
class Lease:
    """The right to replay one run, plus what the replay needs to start."""

    run_id: str
    token: int
    workflow: str
    version: int
    namespace: str
    args: list[Any]
    kwargs: dict[str, Any]
    attributes: dict[str, Any]
    parent_run_id: str | None
    history: list[Event]
    depth: int = 0

    @classmethod
    def from_row(cls, run_id: str, token: int, row: Any, history: list[Event]) -> Lease:
        """From a ``cx_runs`` row carrying the replay inputs (workflow, args, ...)."""
        return cls(
            run_id=run_id,
            token=token,
            workflow=row.workflow,
            version=int(row.version),
            namespace=row.namespace,
            args=list(row.args),
            kwargs=dict(row.kwargs),
            attributes=dict(row.attributes),
            parent_run_id=str(row.parent_run_id) if row.parent_run_id else None,
            history=history,
            depth=int(row.depth),
        )

    @property
    def last_seq(self) -> int:
        return self.history[-1].seq if self.history else 0


@dataclass(frozen=True)
class TaskMessage:
    """What goes on the broker for one activity attempt: ids, plus routing."""

    task_id: str
    run_id: str
    activity: str
    attempt: int
    queue: str | None
    priority: int | None
    timeout: float
    countdown: float | None = None


@dataclass(frozen=True)
class ClaimedTask:
    task_id: str
    run_id: str
    command_id: str
    activity: str
    attempt: int
    claim_token: int
    args: list[Any]
    kwargs: dict[str, Any]
    timeout: float
    kind: str = "activity"
    idempotency_key: str | None = None
    queue: str | None = None
    waited: float = 0.0
    """Seconds from when the attempt was due to its claim (0 for one claimed inline)."""


@dataclass(frozen=True)
class RunEnding:
    """A run that a commit ended or blocked, for the runtime to report once committed."""

    run_id: str
    workflow: str
    state: str
    error: str | None


@dataclass(frozen=True)
class CommitResult:
    """What a decision commit left to do after the transaction."""

    tasks: list[TaskMessage]
    again: bool
    finished: bool
    wake: list[str] = field(default_factory=list)
    """Runs to wake after the commit: children started, a successor, the parent."""
    inline: ClaimedTask | None = None
    """A new activity claimed in this same transaction, for the committing worker
    to run next without publishing it (see :class:`InlineOffer`)."""
    history: list[Event] | None = None
    """The run's whole journal after this commit, when the run goes on."""
    ending: RunEnding | None = None
    """Set when this commit ended the run or blocked it."""


@dataclass(frozen=True)
class InlineOffer:
    """A worker's offer to run one of the activities a decision schedules, itself.

    The activity is claimed in the transaction that schedules it and never goes
    through the broker: one commit and no message per step. The offer names what
    the worker can take (its code is here, it consumes that queue, the time left
    in its delivery); everything else is published as usual.
    """

    wants: Callable[[TaskMessage], bool]
    claim_ttl: float
    owner: str | None = None
    """Who claims (worker host and pid), kept with the claim for operators."""


@dataclass(frozen=True)
class LostAttempt:
    """An attempt upkeep ended because its claim died (worker lost, or timed out)."""

    task_id: str
    run_id: str
    activity: str
    attempt: int
    error_type: str
    message: str


@dataclass(frozen=True)
class Settled:
    """How an attempt ended: a retry to publish, or a run to wake, or neither.

    ``accepted`` is False when the writer's claim turned out to be dead; the
    attempt was then settled as timed out instead of as the writer asked.
    """

    retry: TaskMessage | None
    run_to_wake: str | None
    accepted: bool = True
    commit: CommitResult | None = None
    """What an eager continuation decided, to publish after the commit."""
    lost: LostAttempt | None = None
    """Set when upkeep settled it: the attempt whose claim died, to report."""


@dataclass(frozen=True)
class TaskStatus:
    """One activity (or compensation) of a run, as operators want to see it."""

    task_id: str
    command_id: str
    activity: str
    kind: str
    attempt: int
    state: str
    heartbeat_at: datetime | None
    heartbeat_details: Any


@dataclass(frozen=True)
class TraceRoot:
    """Where a run's spans belong: the stored trace context up its chain, if any."""

    run_id: str
    """The run that carries ``context``, or the top of the chain when none does."""
    context: dict[str, str] | None
    workflow: str | None
    """The workflow of the run asked about (None: no such run)."""
