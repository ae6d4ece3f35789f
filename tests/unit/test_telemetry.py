"""Telemetry off costs nothing and breaks nothing; on, hooks become spans and metrics.

No servers: spans go to the SDK's in-memory exporter through a tracer of their
own, metrics to a private registry, and a run's stored trace context comes from
a stand-in lookup.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from celery import Celery
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from continuum_celery import Continuum
from continuum_celery.journal.db import ConfigurationError
from continuum_celery.journal.gauges import Backlog
from continuum_celery.journal.records import ClaimedTask, LostAttempt, RunEnding, TraceRoot
from continuum_celery.runtime.hooks import NOOP, Fanout, Hooks, guarded
from continuum_celery.telemetry import kinds
from continuum_celery.telemetry.metrics import Metrics
from continuum_celery.telemetry.otel import Tracing
from continuum_celery.telemetry.traces import derived_parent

URL = "postgresql://postgres@127.0.0.1:5432/never_connected"


def engine(**options: Any) -> Continuum:
    return Continuum(Celery("t", set_as_current=False), database_url=URL, **options)


def claim(attempt: int = 1) -> ClaimedTask:
    return ClaimedTask("t-1", "run-1", "c1", "shop.charge", attempt, 7, [], {}, 30.0,
                       waited=0.25)  # fmt: skip


# --- off ----------------------------------------------------------------------------


def test_off_by_default_every_part_shares_the_no_op_hooks() -> None:
    cx = engine()
    assert cx.hooks is NOOP and cx.advancer.hooks is NOOP and cx.performer.hooks is NOOP
    assert not NOOP.enabled and not NOOP.wants_backlog
    assert NOOP.start_begin("wf") == (None, None)


def test_a_core_import_loads_neither_opentelemetry_nor_prometheus() -> None:
    code = ("import sys, continuum_celery.core, continuum_celery.celery_app.tasks;"
            "print(sorted(m for m in sys.modules"
            " if m.split('.')[0] in ('opentelemetry', 'prometheus_client')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    assert out == "[]"


@pytest.mark.parametrize("bad", ["logs", ["traces", "spans"], [1]])
def test_unknown_telemetry_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="telemetry must be"):
        engine(telemetry=bad)


@pytest.mark.parametrize(("port", "error"), [(0, ValueError), (70000, ValueError),
                                             ("9100", TypeError), (True, TypeError)])  # fmt: skip
def test_a_bad_metrics_port_is_refused(port: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="metrics_port"):
        engine(metrics_port=port)


def test_kinds_reads_true_false_a_name_or_names() -> None:
    assert kinds(True) == ("traces", "metrics") and kinds(False) == ()
    assert kinds("metrics") == ("metrics",) and kinds(["traces"]) == ("traces",)


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "continuum_celery.telemetry.otel", None)
    with pytest.raises(ConfigurationError, match=r"continuum-celery\[otel\]"):
        engine(telemetry="traces")


def test_a_failing_hook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("exporter down")

    assert guarded(broken, 1) is None
    assert "telemetry hook broken failed" in caplog.text


# --- traces -------------------------------------------------------------------------


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(spans: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    stored: dict[str, dict[str, str]] = {}

    def lookup(run_id: str) -> TraceRoot:
        return TraceRoot(run_id, stored.get(run_id), "shop.order")

    hooks = Tracing(lookup, provider.get_tracer("test"))
    hooks.stored = stored  # type: ignore[attr-defined]
    return hooks


def test_spans_of_a_run_are_children_of_its_start_span(
    tracing: Tracing, spans: InMemorySpanExporter
) -> None:
    scope, carrier = tracing.start_begin("shop.order")
    assert carrier is not None and "traceparent" in carrier
    tracing.start_end(scope, "run-1", True)
    tracing.stored["run-1"] = carrier  # type: ignore[attr-defined]
    tracing.pass_end(tracing.pass_begin("run-1", "shop.order", 0), "waiting")
    tracing.attempt_end(tracing.attempt_begin(claim(2)), claim(2), "failed")
    tracing.instant_end(tracing.signal_begin("run-1", "review"))
    tracing.instant_end(tracing.timer_begin("run-1", "c3"))
    start, *rest = spans.get_finished_spans()
    assert start.name == "continuum.start shop.order"
    assert [s.name for s in rest] == ["continuum.run shop.order", "continuum.activity shop.charge",
                                      "continuum.signal", "continuum.timer"]  # fmt: skip
    assert all(s.parent is not None and s.parent.span_id == start.context.span_id for s in rest)
    assert {s.context.trace_id for s in rest} == {start.context.trace_id}
    activity = rest[1]
    assert activity.attributes is not None
    assert activity.attributes["continuum.attempt"] == 2
    assert activity.attributes["continuum.outcome"] == "failed"
    assert activity.attributes["continuum.workflow"] == "shop.order"
    assert not activity.status.is_ok


def test_the_current_span_at_an_attempt_is_linked(
    tracing: Tracing, spans: InMemorySpanExporter
) -> None:
    celery = TracerProvider().get_tracer("celery").start_span("run/shop.charge")
    with trace.use_span(celery, end_on_exit=True):
        tracing.attempt_end(tracing.attempt_begin(claim()), claim(), "completed")
    (activity,) = spans.get_finished_spans()
    assert [link.context.span_id for link in activity.links] == [celery.get_span_context().span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN, "the attempt's context is detached"


def test_a_run_without_a_stored_context_gets_a_trace_derived_from_its_id(
    tracing: Tracing, spans: InMemorySpanExporter
) -> None:
    tracing.pass_end(tracing.pass_begin("sched-run", "shop.order", 0), "completed")
    (span,) = spans.get_finished_spans()
    derived = trace.get_current_span(derived_parent("sched-run")).get_span_context()
    assert span.context.trace_id == derived.trace_id, "the same on every worker"
    other = trace.get_current_span(derived_parent("other-run")).get_span_context()
    assert other.trace_id != derived.trace_id, "and each run its own"


# --- metrics ------------------------------------------------------------------------


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_hooks_move_the_metrics_with_bounded_labels() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.pass_end(metrics.pass_begin("run-1", "shop.order", 0), "waiting")
    metrics.pass_end(metrics.pass_begin("run-1", "shop.order", 3), "completed")
    metrics.attempt_end(metrics.attempt_begin(claim()), claim(), "timed_out")
    metrics.attempt_lost(LostAttempt("t-2", "run-1", "shop.charge", 1, "WorkerLost", "gone"))
    metrics.run_ended(RunEnding("run-1", "shop.order", "completed", None))
    metrics.fenced("claim")
    metrics.instant_end(metrics.timer_begin("run-1", "c2"))
    metrics.upkeep_swept(0.01, Backlog(4, 2.5, {"shop.order": {"overlap": 3}}))
    assert value(registry, "continuum_runs_started_total", workflow="shop.order") == 1
    assert value(registry, "continuum_replay_duration_seconds_count", workflow="shop.order") == 2
    assert value(registry, "continuum_activity_attempts_total", activity="shop.charge",
                 outcome="timed_out") == 1  # fmt: skip
    assert value(registry, "continuum_activity_attempts_total", activity="shop.charge",
                 outcome="lost") == 1  # fmt: skip
    assert value(registry, "continuum_activity_schedule_to_start_seconds_sum",
                 activity="shop.charge") == 0.25  # fmt: skip
    assert value(registry, "continuum_runs_ended_total", workflow="shop.order",
                 state="completed") == 1  # fmt: skip
    assert value(registry, "continuum_fenced_writes_total", fence="claim") == 1
    assert value(registry, "continuum_timers_fired_total") == 1
    assert value(registry, "continuum_due_timers") == 4
    assert value(registry, "continuum_upkeep_lag_seconds") == 2.5
    assert value(registry, "continuum_schedule_ticks_skipped", workflow="shop.order",
                 reason="overlap") == 3  # fmt: skip
    labels = {k for m in registry.collect() for s in m.samples for k in s.labels}
    assert labels <= {"workflow", "activity", "outcome", "state", "fence", "reason", "le"}


def test_fanout_tells_every_member_and_pairs_their_scopes() -> None:
    registry = CollectorRegistry()
    seen: list[str] = []

    class Recorder(Hooks):
        enabled = True

        def attempt_begin(self, claim: ClaimedTask) -> Any:
            return "mine"

        def attempt_end(self, scope: Any, claim: ClaimedTask, outcome: str) -> None:
            seen.append(f"{scope} {outcome}")

    both = Fanout([Recorder(), Metrics(registry)])
    assert both.enabled and both.wants_backlog
    both.attempt_end(both.attempt_begin(claim()), claim(), "completed")
    assert seen == ["mine completed"]
    assert value(registry, "continuum_activity_attempts_total", activity="shop.charge",
                 outcome="completed") == 1  # fmt: skip


def test_telemetry_true_wires_both_into_every_part() -> None:
    cx = engine(telemetry=True)
    assert isinstance(cx.hooks, Fanout) and cx.performer.hooks is cx.hooks
    assert cx.advancer.hooks is cx.hooks
    assert {type(m).__name__ for m in cx.hooks.members} == {"Tracing", "Metrics"}
