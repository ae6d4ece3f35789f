"""Testing workflows in your own CI.

- :class:`WorkflowEnvironment`: run workflows in memory, activities in-process,
  time virtual; no Postgres, no broker (``docs/testing.md``).
- :func:`record` / :func:`assert_replays`: replay recorded histories of real runs
  against new code, so an edit that would break runs in flight fails the build;
  :class:`Replayer` does it for the journal or an export file (``replay-check``).
- The pytest plugin (``continuum_celery.testing.plugin``) gives the fixtures
  ``cx_env`` and ``cx_worker``.
"""

from __future__ import annotations

from .environment import WorkflowEnvironment
from .handle import EnvRunHandle, StuckRun
from .recorded import (
    Drift,
    RecordedRun,
    Replayer,
    ReplayReport,
    ReplayResult,
    assert_replays,
    record,
    replay_recorded,
)

__all__ = [
    "Drift",
    "EnvRunHandle",
    "RecordedRun",
    "ReplayReport",
    "ReplayResult",
    "Replayer",
    "StuckRun",
    "WorkflowEnvironment",
    "assert_replays",
    "record",
    "replay_recorded",
]
