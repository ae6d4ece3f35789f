"""What operators read about runs: audit entries and a run described whole.

Plain frozen dataclasses, so the API, a command line and a UI all format the same
values; the journal fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Run


@dataclass(frozen=True)
class AuditEntry:
    """One operator action on a run: what, who, why, when, and its particulars.

    An action a bulk job took names the job in ``job_id``; a row about a whole job
    (created, aborted) has ``run_id`` None."""

    run_id: str | None
    action: str
    actor: str
    reason: str | None
    details: dict[str, Any]
    created_at: datetime
    job_id: str | None = None


@dataclass(frozen=True)
class PendingActivity:
    """An activity not yet settled: where it runs, how it is doing, what failed last."""

    task_id: str
    command_id: str
    activity: str
    kind: str
    attempt: int
    state: str
    claimed_by: str | None
    """Worker host and pid of the claim holder (``host:pid``), while claimed."""
    claim_expires_at: datetime | None
    heartbeat_at: datetime | None
    heartbeat_details: Any
    next_retry_at: datetime | None
    """When a ready task past its first attempt becomes due again."""
    last_error: str | None


@dataclass(frozen=True)
class Wait:
    """An open wait: a timer, or a signal await (with its timeout, if any)."""

    command_id: str
    kind: str
    name: str | None
    fires_at: datetime | None


@dataclass(frozen=True)
class BufferedSignal:
    """A signal delivered before the workflow waited for it."""

    name: str
    payload: Any
    created_at: datetime


@dataclass(frozen=True)
class RunLink:
    """Another run this one is related to, named with its workflow and state."""

    run_id: str
    workflow: str
    state: str
    fork_seq: int | None = None


@dataclass(frozen=True)
class Description:
    """Everything about one run an operator asks first, read in one snapshot."""

    run: Run
    activities: list[PendingActivity]
    timers: list[Wait]
    """Timers and signal awaits with a timeout, by fire time."""
    awaited_signals: list[Wait]
    buffered_signals: list[BufferedSignal]
    parent: RunLink | None
    children: list[RunLink]
    chain: list[str]
    """The continue-as-new chain through this run, first to newest (just this run if none)."""
    forked_from: RunLink | None
    forks: list[RunLink]
    """Forks of this run, each with the seq its copy stopped at."""


@dataclass(frozen=True)
class Attempt:
    """One attempt of an activity: when it ran and how it ended (None while it runs).

    The Celery task id of the attempt's message is ``f"{task_id}-{attempt}"``.
    """

    task_id: str
    command_id: str
    activity: str
    kind: str
    attempt: int
    outcome: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def celery_task_id(self) -> str:
        return f"{self.task_id}-{self.attempt}"


@dataclass(frozen=True)
class RunMark:
    """What changes whenever anything about a run changes: cheap to poll for."""

    run_id: str
    state: str
    last_seq: int
    attempts: int
    audits: int


@dataclass(frozen=True)
class SavedView:
    """A named runs query, shared by URL."""

    name: str
    query: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Job:
    """A bulk job: one action over the runs its query matched when it was created.

    ``state`` is "running", "completed" (every item done or failed) or "aborted".
    ``done`` items took the action, ``failed`` ones were refused (the run had ended
    or was gone; see ``cx.job_items``), ``left`` are still to do.
    """

    job_id: str
    action: str
    query: str
    args: dict[str, Any]
    reason: str
    actor: str
    state: str
    total: int
    done: int
    failed: int
    left: int
    created_at: datetime
    ended_at: datetime | None

    @property
    def id(self) -> str:
        return self.job_id


@dataclass(frozen=True)
class JobItem:
    """One run of a job: "pending", "done" or "failed" (with the refusal's text)."""

    run_id: str
    state: str
    error: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class BulkPreview:
    """What a dry run found: how many runs match now, and a sample of them."""

    action: str
    query: str
    count: int
    sample: list[Run]
