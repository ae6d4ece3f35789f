"""The whole exception tree.

Every public error derives from :class:`ContinuumError`, so callers can catch the
engine's failures with one ``except`` while still telling them apart. Errors that
are also classic Python input errors inherit from ``TypeError``/``ValueError`` too,
so generic validation code keeps working.
"""

from __future__ import annotations


class ContinuumError(Exception):
    """Root of every error raised by continuum_celery."""


# --- bad input --------------------------------------------------------------------


class PayloadError(ContinuumError):
    """A value that must travel through the journal is not acceptable."""


class NotSerializable(PayloadError, TypeError):
    """The value is not plain JSON (dict/list/str/int/float/bool/None)."""


class PayloadTooLarge(PayloadError, ValueError):
    """The encoded value exceeds the configured payload limit."""


class InvalidRetryPolicy(ContinuumError, ValueError):
    """A RetryPolicy that could never behave sensibly, rejected at declaration."""


class UnknownWorkflow(ContinuumError, LookupError):
    """No workflow of that name is registered in this process."""


class UnknownActivity(ContinuumError, LookupError):
    """No activity of that name is registered in this process."""


class DuplicateRegistration(ContinuumError, ValueError):
    """Two workflows or activities were declared under one name."""


# --- runs ---------------------------------------------------------------------------


class RunNotFound(ContinuumError, LookupError):
    """No run has that id."""


class JobNotFound(ContinuumError, LookupError):
    """No bulk job has that id."""


class RunFinished(ContinuumError):
    """The run already reached a terminal state, so it cannot take this request."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"run {run_id} is already {state}")
        self.run_id = run_id
        self.state = state


class RunFailed(ContinuumError):
    """The run ended in failure; the message is the recorded error text."""

    def __init__(self, run_id: str, error: str) -> None:
        super().__init__(error)
        self.run_id = run_id
        self.error = error


class RunTerminated(RunFailed):
    """The run was terminated by an operator: stopped without running workflow code.

    A ``RunFailed`` too, so code that waits for a result and handles failure
    handles this as well.
    """


class RunCancelled(ContinuumError):
    """The run was cancelled before it could finish."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was cancelled")
        self.run_id = run_id


# --- inside workflows ------------------------------------------------------------


class ActivityFailed(ContinuumError):
    """An activity failed for good (retries exhausted or non-retryable).

    Carries the original error's type name and message, because the original
    exception object lived in another process and only its description was journaled.
    """

    def __init__(self, activity: str, error_type: str, message: str, attempt: int) -> None:
        super().__init__(f"{activity} failed after {attempt} attempt(s): {error_type}: {message}")
        self.activity = activity
        self.error_type = error_type
        self.error_message = message
        self.attempt = attempt


class SideEffectFailed(ContinuumError):
    """A ``workflow.side_effect`` (or ``now``/``uuid4``/``random``) raised.

    The failure is journaled, so replay raises this same error at the same place.
    """

    def __init__(self, kind: str, error_type: str, message: str) -> None:
        super().__init__(f"side effect {kind!r} failed: {error_type}: {message}")
        self.kind = kind
        self.error_type = error_type
        self.error_message = message


class SignalTimeout(ContinuumError):
    """``workflow.wait_signal`` reached its timeout before a signal arrived."""


class ReplayDriftError(ContinuumError):
    """Replaying the code no longer produces the recorded history.

    Names the position, the recorded event and the effect the code asked for, so the
    author can see which edit broke compatibility.
    """

    def __init__(self, seq: int | None, expected: str, actual: str) -> None:
        where = f"seq {seq}" if seq is not None else "end of history"
        super().__init__(f"{where} expected {expected}, got {actual}")
        self.seq = seq
        self.expected = expected
        self.actual = actual


class SuspendSwallowed(ContinuumError):
    """Workflow code caught the engine's suspend signal and kept going.

    The engine suspends a workflow by raising a ``BaseException``; a bare ``except:``
    or ``except BaseException`` in workflow code can trap it, which would let the
    code run past an unfinished effect. Detecting it fails the run loudly instead.
    """


class NondeterminismError(ContinuumError):
    """Workflow code called something that differs between replays.

    Raised by the determinism guard at the call itself (``time.time()``,
    ``random.random()``, opening a file or socket, ...), naming it and its
    deterministic replacement. A violation is a bug in the code, so the run is held
    ``blocked`` with this text, as for drift, until fixed code is deployed.
    """

    def __init__(self, call: str, replacement: str, where: str) -> None:
        super().__init__(
            f"{call} called from workflow code at {where}: workflow code must be"
            f" deterministic; use {replacement} instead"
        )
        self.call = call
        self.replacement = replacement
        self.where = where


class ChildDepthExceeded(ContinuumError):
    """Starting this child would nest workflows deeper than the engine allows."""


class NotInWorkflow(ContinuumError, RuntimeError):
    """A ``workflow.*`` function was called outside workflow code."""


class ActivityCancelled(ContinuumError):
    """Raised by ``activity.heartbeat()`` once the activity's run was cancelled."""


class NonRetryableError(ContinuumError):
    """Raise this (or a subclass) inside an activity to stop its retries."""


# --- fencing ------------------------------------------------------------------------


class FencingError(ContinuumError):
    """A write was rejected because the writer no longer holds its token.

    The transaction was rolled back; nothing it meant to write is visible.
    """


class LeaseLost(FencingError):
    """The run lease token is stale, expired or released."""


class ClaimLost(FencingError):
    """The activity claim (task id, attempt, claim token) is no longer valid."""


class RunNotActive(FencingError):
    """The run finished or was cancelled while the writer was working."""


# --- inside workflows: cancellation ---------------------------------------------------


class Cancelled(BaseException):
    """Raised inside workflow code, at its current wait, when the run is cancelled.

    A ``BaseException``, like ``asyncio.CancelledError``, so that a broad
    ``except Exception`` does not swallow a cancel by accident. Catch it to clean
    up (run compensations, notify someone) and re-raise; a workflow that returns
    instead ends ``completed``.
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "cancelled")
        self.reason = reason


# --- starting -----------------------------------------------------------------------


class RunAlreadyExists(ContinuumError):
    """A start named a run id that an existing run of another workflow or input holds.

    Starting again with the same id, workflow and input returns the existing run
    (a retried request is harmless); anything else would silently answer with a run
    that is not the one asked for, so it is refused and nothing is written.
    """

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} already exists with {reason}")
        self.run_id = run_id


# --- set-up ---------------------------------------------------------------------------


class SchemaNotMigrated(ContinuumError):
    """The database lacks migrations this code needs: run ``continuum-celery migrate``."""


# --- listing --------------------------------------------------------------------------


class InvalidQuery(ContinuumError, ValueError):
    """A list query that does not parse, names an unknown field, or pairs a field
    with a value it cannot hold. ``position`` is the character offset where reading
    stopped (``None`` when the fault is not at one place), so a caller can point at it.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"invalid query{where}: {message}")
        self.position = position
        self.reason = message


# --- schedules ------------------------------------------------------------------------


class InvalidSchedule(ContinuumError, ValueError):
    """A schedule's spec, time zone, policy or window that cannot be used: refused
    before anything is written, with what was wrong and where."""


class ScheduleNotFound(ContinuumError, LookupError):
    """No schedule has that id."""


class ScheduleExists(ContinuumError, ValueError):
    """``create`` named a schedule id that is taken: ``update`` changes a schedule."""
