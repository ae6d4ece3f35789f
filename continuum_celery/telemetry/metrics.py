"""Prometheus metrics: runs, activity attempts, replay, fencing and upkeep.

Names follow Prometheus' conventions (``continuum_`` prefix, base units, ``_total``
counters) and labels are bounded: workflow and activity names, states and
outcomes, never run ids. In a prefork worker every pool process records into
``PROMETHEUS_MULTIPROC_DIR`` and the worker's main process serves the sum
(``serve.py``). docs/telemetry.md lists them with queries for Grafana.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ..journal.gauges import Backlog
from ..journal.records import ClaimedTask, LostAttempt, RunEnding
from ..runtime.hooks import Hooks, Scope

LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
           300, 900, 3600)  # fmt: skip
"""Buckets, in seconds, from an inline step to an hour-long activity."""


@dataclass(frozen=True)
class Instruments:
    runs_started: Counter
    runs_ended: Counter
    attempts: Counter
    schedule_to_start: Histogram
    attempt_duration: Histogram
    replay_duration: Histogram
    fenced: Counter
    signals: Counter
    timers: Counter
    upkeep_sweep: Histogram
    upkeep_lag: Gauge
    due_timers: Gauge
    skipped_ticks: Gauge


def _instruments(registry: CollectorRegistry) -> Instruments:
    def counter(name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, registry=registry)

    def histogram(name: str, doc: str, *labels: str) -> Histogram:
        return Histogram(name, doc, labels, registry=registry, buckets=LATENCY)

    def gauge(name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, labels, registry=registry, multiprocess_mode="mostrecent")

    return Instruments(
        counter("continuum_runs_started_total", "Runs whose first replay pass ran.", "workflow"),
        counter("continuum_runs_ended_total",
                "Runs ended (completed, failed, cancelled, continued) or blocked.",
                "workflow", "state"),
        counter("continuum_activity_attempts_total", "Activity attempts by outcome.",
                "activity", "outcome"),
        histogram("continuum_activity_schedule_to_start_seconds",
                  "From an attempt being due to its claim (0 when run inline).", "activity"),
        histogram("continuum_activity_duration_seconds",
                  "An attempt's run time, its body and its settling commit.", "activity"),
        histogram("continuum_replay_duration_seconds",
                  "One replay pass of a run (resident or from the top).", "workflow"),
        counter("continuum_fenced_writes_total", "Writes rejected by their fence.", "fence"),
        counter("continuum_signals_sent_total", "Signals delivered or buffered."),
        counter("continuum_timers_fired_total", "Timers and signal timeouts fired by upkeep."),
        histogram("continuum_upkeep_sweep_duration_seconds", "One full upkeep sweep."),
        gauge("continuum_upkeep_lag_seconds", "How late the oldest due timer is."),
        gauge("continuum_due_timers", "Timers and signal timeouts due and not yet fired."),
        gauge("continuum_schedule_ticks_skipped",
              "Schedule ticks skipped so far (a total kept in Postgres).", "workflow", "reason"),
    )  # fmt: skip


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, Instruments] = (
    weakref.WeakKeyDictionary()
)
"""Keyed by the registry itself, not its ``id()``: a registry that was collected may
leave its id to a new one, which must not inherit instruments registered elsewhere."""


def instruments(registry: CollectorRegistry = REGISTRY) -> Instruments:
    """One set per registry, however many engines a process has."""
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = _BY_REGISTRY[registry] = _instruments(registry)
    return found


class Metrics(Hooks):
    enabled = True
    wants_backlog = True

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.m = instruments(registry)
        self._children: dict[tuple[str, ...], Any] = {}

    def _of(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept: looking a child up costs more than using it."""
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def pass_begin(self, run_id: str, workflow: str, events: int) -> Scope:
        if events == 0:
            self._of(self.m.runs_started, workflow).inc()
        return workflow, time.perf_counter()

    def pass_end(self, scope: Scope, outcome: str) -> None:
        workflow, began = scope
        self._of(self.m.replay_duration, workflow).observe(time.perf_counter() - began)

    def attempt_begin(self, claim: ClaimedTask) -> Scope:
        self._of(self.m.schedule_to_start, claim.activity).observe(claim.waited)
        return time.perf_counter()

    def attempt_end(self, scope: Scope, claim: ClaimedTask, outcome: str) -> None:
        self._of(self.m.attempt_duration, claim.activity).observe(time.perf_counter() - scope)
        self._of(self.m.attempts, claim.activity, outcome).inc()

    def attempt_lost(self, attempt: LostAttempt) -> None:
        self._of(self.m.attempts, attempt.activity, "lost").inc()

    def run_ended(self, ending: RunEnding) -> None:
        self.m.runs_ended.labels(ending.workflow, ending.state).inc()

    def signal_begin(self, run_id: str, name: str) -> Scope:
        self.m.signals.inc()

    def timer_begin(self, run_id: str, timer_id: str) -> Scope:
        self.m.timers.inc()

    def fenced(self, what: str) -> None:
        self.m.fenced.labels(what).inc()

    def upkeep_swept(self, seconds: float, backlog: Backlog | None) -> None:
        self.m.upkeep_sweep.observe(seconds)
        if backlog is None:
            return
        self.m.upkeep_lag.set(backlog.lag)
        self.m.due_timers.set(backlog.due_waits)
        for workflow, reasons in backlog.skipped.items():
            for reason, count in reasons.items():
                self.m.skipped_ticks.labels(workflow, reason).set(count)
