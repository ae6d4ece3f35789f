"""An app with telemetry on: spans to a JSON-lines file, metrics on a port.

Its workers export every finished span (theirs and, once instrumented in each pool
process, Celery's own) as one JSON line to ``$TRACED_SPANS`` with the pid that
recorded it; a synchronous exporter opening the file per span is safe across the
prefork pool's fork. ``$TRACED_METRICS_PORT`` serves its metrics. Activities go to
two queues (``traced-a``, ``traced-b``), so a test can pin them to two workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from continuum_celery import Continuum, workflow

QUEUE = "traced"


class JsonLinesExporter(SpanExporter):
    """Appends each span to a file, one JSON object a line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a") as out:
            for span in spans:
                out.write(json.dumps(as_record(span)) + "\n")
        return SpanExportResult.SUCCESS


def as_record(span: ReadableSpan) -> dict[str, Any]:
    context, parent = span.get_span_context(), span.parent
    return {
        "name": span.name,
        "pid": os.getpid(),
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "attributes": dict(span.attributes or {}),
        "links": [f"{link.context.span_id:016x}" for link in span.links],
    }


if os.environ.get("TRACED_SPANS"):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(os.environ["TRACED_SPANS"])))
    trace.set_tracer_provider(provider)


@worker_init.connect(weak=False)
@worker_process_init.connect(weak=False)
def instrument_celery(**_: Any) -> None:
    """In the pool processes, as opentelemetry-instrumentation-celery documents for
    prefork, and in the main process, whose upkeep publishes wakeups too."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    instrumentor = CeleryInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


app = Celery("traced", broker=os.environ.get("TRACED_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
port = os.environ.get("TRACED_METRICS_PORT")
cx = Continuum(
    app,
    database_url=os.environ.get("TRACED_DATABASE_URL"),
    telemetry=True,
    metrics_port=int(port) if port else None,
)


@cx.activity(queue="traced-a")
def left(value: int) -> int:
    return value + 1


@cx.activity(queue="traced-b")
def right(value: int) -> int:
    return value * 2


@cx.workflow()
def zigzag(value: int) -> int:
    """Three activities on two queues, a short timer and a signal between them."""
    value = right(left(value))
    workflow.sleep(0.2)
    value += workflow.wait_signal("go", timeout=60)
    return left(value)
