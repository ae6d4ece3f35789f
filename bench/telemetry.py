"""What telemetry costs per step, measured in-process: off, metrics, traces, both.

    python -m bench.telemetry                  # 20,000 steps, best of 5

A sequential step on the fast path makes one replay pass and one activity attempt,
so it calls ``pass_begin``/``pass_end`` and ``attempt_begin``/``attempt_end`` once
each (and, once per run, ``run_ended``). Off, the runtime only reads
``hooks.enabled`` at each of those points. Timed here alone, without database or
broker, so that microseconds are not lost in a whole step's noise; compare them
with a step's worker CPU from ``bench.run`` (about 1 ms on an idle machine). Traces
are timed with the SDK's provider and no exporter (recording spans, exporting none)
and with the API alone (no provider: spans are no-ops).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

from continuum_celery.journal.records import ClaimedTask, TraceRoot
from continuum_celery.runtime.hooks import NOOP, Fanout, Hooks, guarded
from continuum_celery.telemetry.metrics import Metrics
from continuum_celery.telemetry.otel import Tracing

CLAIM = ClaimedTask("t-1", "run-1", "c1", "bench.step", 1, 7, [], {}, 30.0)


def step(hooks: Hooks) -> None:
    """The hook points of one step, as the runtime calls them."""
    if hooks.enabled:
        scope = guarded(hooks.pass_begin, "run-1", "bench.flow", 10)
        guarded(hooks.pass_end, scope, "waiting")
    if hooks.enabled:
        scope = guarded(hooks.attempt_begin, CLAIM)
        guarded(hooks.attempt_end, scope, CLAIM, "completed")


def tracing(provider: object) -> Tracing:
    def lookup(run_id: str) -> TraceRoot:
        return TraceRoot(run_id, None, "bench.flow")

    return Tracing(lookup, provider.get_tracer("bench"))  # type: ignore[attr-defined]


def per_step_us(hooks: Hooks, steps: int, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        for _ in range(steps):
            step(hooks)
        best = min(best, time.perf_counter() - started)
    return best / steps * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--output", type=Path, default=Path("bench/results/telemetry.json"))
    args = p.parse_args()
    metrics = Metrics(CollectorRegistry())
    sdk = tracing(TracerProvider())
    variants: dict[str, Callable[[], Hooks]] = {
        "off": lambda: NOOP,
        "metrics": lambda: metrics,
        "traces (API only, no provider)": lambda: tracing(NoOpTracerProvider()),
        "traces (SDK, no exporter)": lambda: sdk,
        "traces (SDK) + metrics": lambda: Fanout([sdk, metrics]),
    }
    results = {name: per_step_us(make(), args.steps, args.reps) for name, make in variants.items()}
    for name, us in results.items():
        print(f"{name:32s} {us:8.2f} µs/step")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
