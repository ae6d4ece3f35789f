"""Replay recorded runs against today's workflow code, to catch drift before a deploy.

``Replayer`` from Python; ``continuum-celery replay-check`` in CI. See
docs/testing.md, "Replay gate in CI".
"""

from .recordings import Recording, read_jsonl
from .replayer import Replayer, ReplayReport, ReplayResult
from .verdict import Drift

__all__ = ["Drift", "Recording", "ReplayReport", "ReplayResult", "Replayer", "read_jsonl"]
