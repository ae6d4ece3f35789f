"""Runs the UI tests look at, started on the session's real worker."""

from __future__ import annotations

import uuid
from types import ModuleType

from continuum_celery.client import RunHandle
from tests.integration.checks import types, wait_for

HOSTILE = "\"'><script>alert('x')</script><img src=x onerror=alert(1)>"


def batch() -> str:
    """A fresh attribute value, so a test's query sees only its own runs."""
    return uuid.uuid4().hex[:12]


def waiting(flows: ModuleType, tag: str, count: int = 1) -> RunHandle:
    """A run that waits for ``count`` "item" signals, tagged for queries."""
    handle = flows.cx.start(flows.wait_for_signals, count, attributes={"batch": tag})
    wait_for(lambda: "signal_awaited" in types(flows.cx.history(handle.run_id)))
    return handle


def retried(flows: ModuleType, tag: str) -> RunHandle:
    """A finished run whose activity failed twice before it succeeded."""
    handle = flows.cx.start(flows.retrying, uuid.uuid4().hex, 2, attributes={"batch": tag})
    handle.result(timeout=30)
    return handle
