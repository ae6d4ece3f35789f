"""Telemetry from real workers: one trace per run across processes, metrics scraped.

Two workers (two pool processes each) split the activities by queue. The client
here records its spans in memory; the workers append theirs, with Celery's own
spans, to a JSON-lines file.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from continuum_celery import Continuum
from continuum_celery.journal.db import Database
from continuum_celery.journal.migrate import migrate
from tests.conftest import claimed_redis_db
from tests.integration.checks import wait_for
from tests.integration.databases import fresh_database
from tests.integration.flower import free_port
from tests.integration.harness import WorkerFactory

APP = "tests.integration.apps.traced"
ZIGZAG = f"{APP}.zigzag"
LEFT, RIGHT = f"{APP}.left", f"{APP}.right"


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with claimed_redis_db("telemetry", share_when_full=False) as url:
        yield url


@pytest.fixture
def own_db(database_url: str) -> Iterator[str]:
    with fresh_database(database_url, "cx_tel") as url:
        db = Database(url, pool_size=1)
        migrate(db)
        db.dispose()
        yield url


@pytest.fixture(scope="module")
def client_spans() -> InMemorySpanExporter:
    """This process's spans (the global provider is set once per process)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    CeleryInstrumentor().instrument()  # as an instrumented web tier would
    return exporter


def client(url: str, broker: str) -> Continuum:
    app = Celery("traced-client", broker=broker, set_as_current=False)
    app.conf.update(task_default_queue="traced")
    return Continuum(app, database_url=url, worker_upkeep=False, telemetry="traces")


def worker_env(url: str, broker: str, spans: Path, port: int | None = None) -> dict[str, str]:
    env = {"TRACED_DATABASE_URL": url, "TRACED_BROKER_URL": broker, "TRACED_SPANS": str(spans)}
    if port is not None:
        env["TRACED_METRICS_PORT"] = str(port)
    return env


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def run_zigzag(cx: Continuum) -> str:
    handle = cx.start(ZIGZAG, 1)
    wait_for(lambda: any(e.type == "signal_awaited" for e in handle.history()), what="the wait")
    cx.signal(handle.run_id, "go", 10)
    assert handle.result(timeout=30) == 15  # (1 + 1) * 2, + 10, + 1
    return handle.run_id


def test_one_trace_joins_a_start_three_activities_on_two_workers_and_celery(
    own_db: str,
    broker: str,
    tmp_path: Path,
    worker_factory: WorkerFactory,
    client_spans: InMemorySpanExporter,
) -> None:
    spans_path = tmp_path / "spans.jsonl"
    env = worker_env(own_db, broker, spans_path)
    a = worker_factory(APP, concurrency=2, queues=["traced", "traced-a"], env=env)
    b = worker_factory(APP, concurrency=2, queues=["traced", "traced-b"], env=env)
    client_spans.clear()
    run_id = run_zigzag(client(own_db, broker))

    mine = {s.name: s for s in client_spans.get_finished_spans()}
    start = mine[f"continuum.start {ZIGZAG}"]
    trace_id = f"{start.context.trace_id:032x}"
    assert start.attributes["continuum.run_id"] == run_id
    assert f"{mine['continuum.signal'].context.trace_id:032x}" == trace_id

    def ours() -> list[dict[str, Any]]:
        return [s for s in read_spans(spans_path) if s["name"].startswith("continuum.")]

    wait_for(lambda: len([s for s in ours() if "activity" in s["name"]]) == 3, what="3 attempts")
    spans = ours()
    activities = [s for s in spans if s["name"].startswith("continuum.activity")]
    assert sorted(s["name"] for s in activities) == sorted(
        [f"continuum.activity {LEFT}", f"continuum.activity {RIGHT}",
         f"continuum.activity {LEFT}"]
    )  # fmt: skip
    assert {s["trace_id"] for s in spans} == {trace_id}, "every span in the caller's trace"
    start_id = f"{start.context.span_id:016x}"
    assert all(s["parent_span_id"] == start_id for s in spans), "children of the start"
    assert {s["attributes"]["continuum.outcome"] for s in activities} == {"completed"}
    assert [s["attributes"]["continuum.attempt"] for s in activities] == [1, 1, 1]
    assert {s["attributes"]["continuum.workflow"] for s in activities} == {ZIGZAG}
    assert {s["attributes"]["continuum.run_id"] for s in activities} == {run_id}
    worker_pids = {pid for w in (a, b) for pid in w.pids()}
    assert len({s["pid"] for s in activities} & worker_pids) >= 2, "two worker processes"
    assert any(s["name"] == f"continuum.run {ZIGZAG}" for s in spans)
    assert any(s["name"] == "continuum.timer" for s in spans), "the sleep fired by upkeep"

    celery = {s["span_id"]: s for s in read_spans(spans_path) if s["name"].startswith("run/")}
    linked = [celery[link] for s in activities for link in s["links"] if link in celery]
    assert {s["name"] for s in linked} >= {f"run/{LEFT}", f"run/{RIGHT}"}
    strays = [s for s in celery.values() if s["trace_id"] != trace_id]
    assert not strays, "Celery's spans join too"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_are_scraped_from_a_running_worker_and_move_after_a_run(
    own_db: str, broker: str, tmp_path: Path, worker_factory: WorkerFactory
) -> None:
    port = free_port()
    env = worker_env(own_db, broker, tmp_path / "spans.jsonl", port)
    (tmp_path / "prometheus").mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")  # as a deployment sets it
    worker_factory(APP, concurrency=2, queues=["traced", "traced-a", "traced-b"], env=env)
    before = scrape(port)
    assert sample(before, "continuum_runs_started_total", workflow=ZIGZAG) == 0
    run_zigzag(client(own_db, broker))

    def after() -> str:
        return scrape(port)

    wait_for(lambda: sample(after(), "continuum_runs_ended_total", workflow=ZIGZAG,
                            state="completed") == 1, what="the run counted")  # fmt: skip
    text = after()
    assert sample(text, "continuum_runs_started_total", workflow=ZIGZAG) == 1
    assert sample(text, "continuum_activity_attempts_total", activity=LEFT,
                  outcome="completed") == 2  # fmt: skip
    assert sample(text, "continuum_activity_attempts_total", activity=RIGHT,
                  outcome="completed") == 1  # fmt: skip
    assert sample(text, "continuum_activity_duration_seconds_count", activity=LEFT) == 2
    assert sample(text, "continuum_activity_schedule_to_start_seconds_count", activity=RIGHT) == 1
    assert sample(text, "continuum_replay_duration_seconds_count", workflow=ZIGZAG) >= 4
    assert sample(text, "continuum_timers_fired_total") >= 1
    assert "continuum_upkeep_lag_seconds" in text and "continuum_due_timers" in text
    assert run_id_free(text), "no run id is ever a label"
    assert any((tmp_path / "prometheus").iterdir()), "pool processes wrote their files there"


def run_id_free(text: str) -> bool:
    return not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)
