"""Each run's place in a trace, looked up once per run and process, then cached.

A run keeps the trace context of the caller that started it (``cx_runs.trace_context``);
children and successors inherit their ancestor's. A run with no context anywhere up
its chain (started by a schedule, or with tracing off) gets a trace derived from
its top run's id, so its spans still share one trace on every worker.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import propagate, trace
from opentelemetry.context import Context

from ..journal.records import TraceRoot

CAPACITY = 10_000
"""Runs whose trace a process remembers (a context is a few hundred bytes)."""


@dataclass(frozen=True)
class RunTrace:
    context: Context
    """The parent of the run's spans."""
    workflow: str | None


def derived_parent(run_id: str) -> Context:
    """A remote parent that every process derives alike from the run id."""
    digest = hashlib.sha256(run_id.encode()).digest()
    span = trace.SpanContext(
        trace_id=int.from_bytes(digest[:16], "big") or 1,
        span_id=int.from_bytes(digest[16:24], "big") or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span))


def carried(carrier: dict[str, str]) -> Context:
    """The context a stored carrier names (through the global propagator)."""
    return propagate.extract(carrier)


def carrier_of(context: Context) -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


class RunTraces:
    """``run id -> RunTrace``, from the journal on first sight (an LRU after that)."""

    def __init__(self, lookup: Callable[[str], TraceRoot], capacity: int = CAPACITY) -> None:
        self.lookup = lookup
        self.capacity = capacity
        self._known: OrderedDict[str, RunTrace] = OrderedDict()

    def __getitem__(self, run_id: str) -> RunTrace:
        found = self._known.get(run_id)
        if found is None:
            found = self._load(run_id)
            self._known[run_id] = found
            if len(self._known) > self.capacity:
                self._known.popitem(last=False)
        return found

    def _load(self, run_id: str) -> RunTrace:
        root = self.lookup(run_id)
        if root.context:
            return RunTrace(carried(root.context), root.workflow)
        return RunTrace(derived_parent(root.run_id), root.workflow)
