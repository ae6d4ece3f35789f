"""``cx.export_runs`` and ``continuum-celery export``: matching runs, each with its
whole history, streamed page by page; against a real database and worker."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import event

from continuum_celery import InvalidQuery
from continuum_celery.cli.output import dumps
from tests.integration.conftest import FLOWS
from tests.integration.harness import WorkerProcess
from tests.integration.test_cli import Cli, celery_cli, cli, env, ok, plugin_path, refused

__all__ = ["celery_cli", "cli", "env", "plugin_path"]  # fixtures, shared with test_cli.py

APP = ["--app", f"{FLOWS}:cx"]


@pytest.fixture(scope="module")
def batch(flows: ModuleType, worker: WorkerProcess) -> tuple[str, list[str]]:
    """Five runs tagged with a batch of their own, oldest first: four finished
    (histories of different lengths) and one due next year (no events yet)."""
    key = uuid.uuid4().hex
    handles = [flows.chain.apply_async((n,), attributes={"batch": key}) for n in (1, 2, 3, 1)]
    for handle in handles:
        handle.result(timeout=20)
    later = datetime.now(UTC) + timedelta(days=365)
    waiting = flows.chain.apply_async((1,), attributes={"batch": key}, eta=later)
    flows.chain.apply_async((1,), attributes={"batch": "other"}).result(timeout=20)
    return f'attributes.batch = "{key}"', [h.run_id for h in [*handles, waiting]]


def as_json(value: Any) -> Any:
    """What a value looks like after a trip through the command line's JSON."""
    return json.loads(dumps(value, indent=None))


def history_of(flows: ModuleType, run_id: str) -> list[dict[str, Any]]:
    return [asdict(event) for event in flows.cx.history(run_id)]


def test_export_yields_matching_runs_oldest_first_with_their_whole_histories(
    flows: ModuleType, batch: tuple[str, list[str]]
) -> None:
    query, run_ids = batch
    exported = list(flows.cx.export_runs(query, page=2))  # three pages
    assert [item["run_id"] for item in exported] == run_ids
    for item in exported:
        assert item["events"] == history_of(flows, item["run_id"])
        run = asdict(flows.cx.get_run(item["run_id"]))
        assert {k: v for k, v in item.items() if k != "events"} == run
    assert [len(item["events"]) for item in exported][-1] == 0, "not started yet"
    assert len(exported[2]["events"]) > len(exported[0]["events"]) > 0
    assert exported[0]["state"] == "completed" and exported[-1]["state"] == "running"


def test_export_stops_at_the_limit_on_any_page(
    flows: ModuleType, batch: tuple[str, list[str]]
) -> None:
    query, run_ids = batch
    assert [i["run_id"] for i in flows.cx.export_runs(query, page=2, limit=3)] == run_ids[:3]
    assert [i["run_id"] for i in flows.cx.export_runs(query, limit=1)] == run_ids[:1]
    assert list(flows.cx.export_runs('attributes.batch = "nothing-has-this"')) == []


def test_bad_arguments_are_refused_on_the_call_not_the_first_item(flows: ModuleType) -> None:
    with pytest.raises(InvalidQuery, match="position 8"):
        flows.cx.export_runs("state = failed")
    with pytest.raises(ValueError, match="page must be at least 1 and at most 1000"):
        flows.cx.export_runs("", page=0)
    with pytest.raises(ValueError, match="limit"):
        flows.cx.export_runs("", limit=0)
    with pytest.raises(TypeError, match="page must be an int"):
        flows.cx.export_runs("", page="10")


def test_cli_exports_json_lines_to_stdout_with_the_count_on_stderr(
    cli: Cli, flows: ModuleType, batch: tuple[str, list[str]]
) -> None:
    query, run_ids = batch
    done = cli("export", "--query", query, "--page", "2", *APP)
    lines = ok(done).splitlines()
    items = [json.loads(line) for line in lines]
    assert [item["run_id"] for item in items] == run_ids
    for item in items:
        assert item["events"] == as_json(history_of(flows, item["run_id"]))
        assert [e["seq"] for e in item["events"]] == list(range(1, len(item["events"]) + 1))
        assert set(item) >= {"workflow", "state", "created_at", "attributes", "result"}
    listed = ok(cli("runs", "list", "-q", query, "--format", "jsonl", *APP)).splitlines()
    assert {k: v for k, v in items[0].items() if k != "events"} == json.loads(listed[-1])
    assert done.stderr.strip() == "exported 5 runs"


def test_cli_writes_a_file_only_when_the_export_is_whole(
    cli: Cli, batch: tuple[str, list[str]], tmp_path: Path
) -> None:
    query, run_ids = batch
    target = tmp_path / "archive.jsonl"
    done = cli("export", "-q", query, "--output", str(target), "--limit", "2", *APP)
    assert ok(done) == "" and done.stderr.strip() == "exported 2 runs"
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert [item["run_id"] for item in written] == run_ids[:2]
    refused(cli("export", "-q", "colour = 1", "-o", str(tmp_path / "x.jsonl"), *APP),
            "invalid query at position 0")  # fmt: skip
    refused(cli("export", "--page", "0", *APP), "page must be at least 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.jsonl"], "nothing half-written"


def test_celery_continuum_export_uses_the_apps_continuum(
    celery_cli: Cli, batch: tuple[str, list[str]]
) -> None:
    query, run_ids = batch
    lines = ok(celery_cli("export", "-q", query, "--limit", "1")).splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == run_ids[:1]


def test_each_page_reads_its_histories_in_one_statement(
    flows: ModuleType, batch: tuple[str, list[str]]
) -> None:
    """No statement per run: a page of runs, then one read of all their events."""
    query, run_ids = batch
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(flows.cx.db.engine, "before_cursor_execute", seen)
    try:
        assert len(list(flows.cx.export_runs(query, page=2))) == len(run_ids)
    finally:
        event.remove(flows.cx.db.engine, "before_cursor_execute", seen)
    histories = [s for s in statements if "cx_events" in s]
    pages = [s for s in statements if "FROM cx_runs" in s]
    assert len(pages) == 3 and len(histories) == 3, statements
