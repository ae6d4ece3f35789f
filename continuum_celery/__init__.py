"""continuum_celery: durable workflows for Celery, journaled in Postgres.

A workflow is plain Python, replayed from a fenced Postgres journal; Celery only
carries activity executions and replay wakeups.
"""

from . import activity, testing, workflow
from .client import ResultTimeout, Run, RunHandle
from .core import Continuum
from .definitions import Activity, Workflow
from .engine.events import Event
from .engine.retry import RetryPolicy
from .errors import (
    ActivityCancelled,
    ActivityFailed,
    Cancelled,
    ChildDepthExceeded,
    ClaimLost,
    ContinuumError,
    FencingError,
    InvalidQuery,
    InvalidRetryPolicy,
    JobNotFound,
    LeaseLost,
    NondeterminismError,
    NonRetryableError,
    NotInWorkflow,
    NotSerializable,
    PayloadError,
    PayloadTooLarge,
    ReplayDriftError,
    RunAlreadyExists,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunNotActive,
    RunNotFound,
    RunTerminated,
    SchemaNotMigrated,
    SideEffectFailed,
    SignalTimeout,
    SuspendSwallowed,
    UnknownActivity,
    UnknownWorkflow,
)
from .listing import RunPage
from .views import AuditEntry, BulkPreview, Description, Job, JobItem

__all__ = [
    "Activity",
    "ActivityCancelled",
    "ActivityFailed",
    "AuditEntry",
    "BulkPreview",
    "Cancelled",
    "ChildDepthExceeded",
    "ClaimLost",
    "Continuum",
    "ContinuumError",
    "Description",
    "Event",
    "FencingError",
    "InvalidQuery",
    "InvalidRetryPolicy",
    "Job",
    "JobItem",
    "JobNotFound",
    "LeaseLost",
    "NonRetryableError",
    "NondeterminismError",
    "NotInWorkflow",
    "NotSerializable",
    "PayloadError",
    "PayloadTooLarge",
    "ReplayDriftError",
    "ResultTimeout",
    "RetryPolicy",
    "Run",
    "RunAlreadyExists",
    "RunCancelled",
    "RunFailed",
    "RunFinished",
    "RunHandle",
    "RunNotActive",
    "RunNotFound",
    "RunPage",
    "RunTerminated",
    "SchemaNotMigrated",
    "SideEffectFailed",
    "SignalTimeout",
    "SuspendSwallowed",
    "UnknownActivity",
    "UnknownWorkflow",
    "Workflow",
    "activity",
    "testing",
    "workflow",
]
