"""OpenTelemetry spans for runs, replay passes, activity attempts, signals and timers.

Spans come from the global ``TracerProvider`` (set yours up as usual, in each
worker process: ``worker_process_init`` for prefork). Every span of a run is a
child of the ``continuum.start`` span of the call that started it, which may be
days earlier and on another machine, so a run is one trace from the request that
started it. Where Celery's own instrumentation is installed, its span for the
task being executed is added as a link (and the Celery messages a start publishes
carry the start span, so Celery's spans land in the same trace).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from ..journal.records import ClaimedTask, RunEnding, TraceRoot
from ..runtime.hooks import Hooks, Scope
from .traces import RunTraces, carrier_of

FAILED = frozenset({"failed", "timed_out", "blocked", "error"})


class Tracing(Hooks):
    """The runtime's hooks as spans; ``lookup`` finds a run's stored trace context."""

    enabled = True

    def __init__(self, lookup: Callable[[str], TraceRoot], tracer: trace.Tracer | None = None):
        self.tracer = tracer or trace.get_tracer("continuum_celery")
        self.runs = RunTraces(lookup)

    # --- client -----------------------------------------------------------------------

    def start_begin(self, workflow: str) -> tuple[Scope, dict[str, str] | None]:
        """The start span is current while the run is inserted and its first wakeup
        published, so Celery's publish span (if instrumented) is its child."""
        span = self.tracer.start_span(f"continuum.start {workflow}", kind=SpanKind.PRODUCER,
                                      attributes={"continuum.workflow": workflow})  # fmt: skip
        context = trace.set_span_in_context(span)
        token = otel_context.attach(context)
        return (span, token), carrier_of(context)

    def start_end(self, scope: Scope, run_id: str | None, created: bool) -> None:
        span, token = scope
        otel_context.detach(token)
        if run_id is None:
            span.set_status(Status(StatusCode.ERROR, "the start failed"))
        else:
            span.set_attributes({"continuum.run_id": run_id, "continuum.created": created})
        span.end()

    def signal_begin(self, run_id: str, name: str) -> Scope:
        return self._current("continuum.signal", run_id, {"continuum.signal": name})

    def instant_end(self, scope: Scope) -> None:
        span, token = scope
        otel_context.detach(token)
        span.end()

    # --- workers ----------------------------------------------------------------------

    def pass_begin(self, run_id: str, workflow: str, events: int) -> Scope:
        return self._span(f"continuum.run {workflow}", run_id, workflow,
                          {"continuum.history_length": events})  # fmt: skip

    def pass_end(self, scope: Scope, outcome: str) -> None:
        _finish(scope, outcome)

    def attempt_begin(self, claim: ClaimedTask) -> Scope:
        """Current while the body runs, so spans the activity makes are its children
        (and Celery's spans of the messages its settling publishes)."""
        attributes = {"continuum.activity": claim.activity, "continuum.attempt": claim.attempt,
                      "continuum.task_id": claim.task_id}  # fmt: skip
        return self._current(f"continuum.activity {claim.activity}", claim.run_id, attributes)

    def attempt_end(self, scope: Scope, claim: ClaimedTask, outcome: str) -> None:
        span, token = scope
        otel_context.detach(token)
        _finish(span, outcome)

    def run_ended(self, ending: RunEnding) -> None:
        """Shown on the pass that ended it (its outcome); nothing more to record."""

    def timer_begin(self, run_id: str, timer_id: str) -> Scope:
        return self._current("continuum.timer", run_id, {"continuum.timer_id": timer_id})

    # --- spans ------------------------------------------------------------------------

    def _span(
        self, name: str, run_id: str, workflow: str | None, attributes: dict[str, Any]
    ) -> Span:
        """A span of the run, in its trace, linked to Celery's span of this task."""
        run = self.runs[run_id]
        named = workflow or run.workflow or ""
        attributes = {"continuum.run_id": run_id, "continuum.workflow": named, **attributes}
        return self.tracer.start_span(name, context=run.context, links=_celery_link(),
                                      attributes=attributes)  # fmt: skip

    def _current(self, name: str, run_id: str, attributes: dict[str, Any]) -> Scope:
        """A span of the run made current until its end: (span, context token)."""
        span = self._span(name, run_id, None, attributes)
        return span, otel_context.attach(trace.set_span_in_context(span))


def _celery_link() -> list[Link]:
    """The span current when this runs (Celery's ``run/<task>`` when instrumented)."""
    current = trace.get_current_span().get_span_context()
    return [Link(current)] if current.is_valid else []


def _finish(span: Span, outcome: str) -> None:
    span.set_attribute("continuum.outcome", outcome)
    if outcome in FAILED:
        span.set_status(Status(StatusCode.ERROR, outcome))
    span.end()
