"""The reading commands (``runs list``, ``runs count``, ``runs describe``, ``audit``),
run as an operator runs them: in a subprocess, against real servers."""

from __future__ import annotations

import json
import uuid
from types import ModuleType

import pytest

from continuum_celery.client import RunHandle
from tests.integration.conftest import FLOWS
from tests.integration.harness import WorkerProcess
from tests.integration.test_cli import Cli, cli, env, ok, plugin_path, refused

__all__ = ["cli", "env", "plugin_path"]  # fixtures, shared with test_cli.py

APP = ["--app", f"{FLOWS}:cx"]


@pytest.fixture(scope="module")
def batch(flows: ModuleType, worker: WorkerProcess) -> tuple[str, list[RunHandle]]:
    """Three finished runs tagged with a batch no other test uses, oldest first."""
    key = uuid.uuid4().hex
    handles = [flows.chain.apply_async((1,), attributes={"batch": key}) for _ in range(3)]
    for handle in handles:
        handle.result(timeout=20)
    return f'attributes.batch = "{key}"', handles


# --- runs list -----------------------------------------------------------------------


def test_list_pages_with_the_printed_cursor(cli: Cli, batch: tuple[str, list[RunHandle]]) -> None:
    query, handles = batch
    args = ["runs", "list", "--query", query, "--limit", "2", "--format", "json", *APP]
    first = json.loads(ok(cli(*args)))
    second = json.loads(ok(cli(*args, "--cursor", first["next_cursor"])))
    listed = [run["run_id"] for run in first["runs"] + second["runs"]]
    assert listed == [handle.run_id for handle in reversed(handles)], "newest first"
    assert first["next_cursor"] and second["next_cursor"] is None
    assert first["runs"][0]["state"] == "completed"


def test_list_is_a_plain_table_when_piped_with_the_cursor_on_stderr(
    cli: Cli, batch: tuple[str, list[RunHandle]]
) -> None:
    query, handles = batch
    done = cli("runs", "list", "-q", query, "--limit", "2", *APP)
    header, *rows = ok(done).splitlines()
    assert "\x1b[" not in done.stdout, "no colour codes in a pipe"
    assert header.split() == ["run_id", "workflow", "state", "created_at", "ended_at", "error"]
    assert [row.split()[0] for row in rows] == [handles[2].run_id, handles[1].run_id]
    assert all(row.split()[2] == "completed" for row in rows)
    [cursor_line] = done.stderr.splitlines()
    assert cursor_line.startswith("next cursor: ")
    cursor = cursor_line.removeprefix("next cursor: ")
    rest = cli("runs", "list", "-q", query, "--limit", "2", "--cursor", cursor, *APP)
    assert [row.split()[0] for row in ok(rest).splitlines()[1:]] == [handles[0].run_id]
    assert rest.stderr == "", "no cursor after the last page"


def test_list_as_jsonl_is_one_run_a_line(cli: Cli, batch: tuple[str, list[RunHandle]]) -> None:
    query, handles = batch
    out = ok(cli("runs", "list", "-q", query, "--format", "jsonl", *APP))
    runs = [json.loads(line) for line in out.splitlines()]
    assert [run["run_id"] for run in runs] == [h.run_id for h in reversed(handles)]


# --- runs count ----------------------------------------------------------------------


def test_count_overall_and_grouped(
    cli: Cli, flows: ModuleType, batch: tuple[str, list[RunHandle]]
) -> None:
    query, _ = batch
    assert ok(cli("runs", "count", "-q", query, *APP)).strip() == "3"
    grouped = ok(cli("runs", "count", "-q", query, "--group-by", "state,workflow", *APP))
    assert [line.split() for line in grouped.splitlines()] == [
        ["state", "workflow", "count"],
        ["completed", flows.chain.name, "3"],
    ]
    as_json = json.loads(ok(cli("runs", "count", "-q", query, "--group-by", "state",
                                "--format", "json", *APP)))  # fmt: skip
    assert as_json == [{"state": "completed", "count": 3}]


def test_a_bad_query_is_one_line_naming_the_position(cli: Cli) -> None:
    line = refused(cli("runs", "list", "-q", "state = failed", *APP), "position 8")
    assert line.startswith("Error: invalid query")
    refused(cli("runs", "count", "-q", "colour = 1", *APP), "invalid query at position 0")
    refused(cli("runs", "count", "--group-by", "state,colour", *APP), "group_by")
    refused(cli("runs", "list", "--cursor", "garbage", *APP), "cursor")
    refused(cli("runs", "list", "--limit", "0", *APP), "limit")


# --- runs describe -------------------------------------------------------------------


def test_describe_shows_what_a_waiting_run_waits_for(
    cli: Cli, flows: ModuleType, worker: WorkerProcess
) -> None:
    handle = flows.signal_or_timeout.delay(60.0)
    flows.cx.signal(handle.run_id, "unrelated", {"n": 1})
    out = ok(cli("runs", "describe", handle.run_id, *APP))
    lines = out.splitlines()
    assert lines[0].split() == ["run", handle.run_id]
    assert ["state", "running"] in [line.split() for line in lines]
    for section in ("timers", "awaited signals", "buffered signals"):
        assert section in lines, out
    assert "unrelated" in out and '{"n": 1}' in out
    found = json.loads(ok(cli("runs", "describe", handle.run_id, "--format", "json", *APP)))
    assert found["run"]["run_id"] == handle.run_id
    assert [w["name"] for w in found["awaited_signals"]] == ["approve"]
    assert found["children"] == [] and found["chain"] == [handle.run_id]
    flows.cx.signal(handle.run_id, "approve", "yes")
    assert handle.result(timeout=20) == "yes"
    ended = ok(cli("runs", "describe", handle.run_id, *APP))
    assert "awaited signals" not in ended and "ended" in ended
    refused(cli("runs", "describe", "no-such-run", *APP), "no run with id no-such-run")


# --- audit ---------------------------------------------------------------------------


def test_audit_of_a_run_and_across_runs(cli: Cli, flows: ModuleType, worker: WorkerProcess) -> None:
    handle = flows.signal_or_timeout.delay(60.0)
    actor = f"ops-{uuid.uuid4().hex[:8]}"
    flows.cx.signal(handle.run_id, "note", 1, actor=actor)
    flows.cx.terminate(handle.run_id, "bad data", actor=actor)
    of_run = json.loads(ok(cli("audit", handle.run_id, "--format", "json", *APP)))
    assert [(e["action"], e["actor"]) for e in of_run] == [("signal", actor),
                                                           ("terminate", actor)]  # fmt: skip
    only = ok(cli("audit", handle.run_id, "--action", "terminate", "--format", "jsonl", *APP))
    assert [json.loads(line)["reason"] for line in only.splitlines()] == ["bad data"]
    latest = ok(cli("audit", "--actor", actor, "--since", "-1h", "--limit", "1", *APP))
    header, *rows = latest.splitlines()
    assert header.split()[:4] == ["created_at", "run_id", "action", "actor"]
    assert [row.split()[1:4] for row in rows] == [[handle.run_id, "terminate", actor]]
    later = ok(cli("audit", "--actor", actor, "--since", "2999-01-01", *APP))
    assert later.splitlines()[1:] == [], "nothing after --since"
    refused(cli("audit", "--since", "yesterday", *APP), "--since", "ISO-8601")
    refused(cli("audit", "--limit", "0", *APP), "limit")


def test_audit_query_selects_runs_and_entries(
    cli: Cli, flows: ModuleType, worker: WorkerProcess
) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    handle = flows.signal_or_timeout.apply_async((60.0,), attributes={"customer": customer})
    bystander = flows.signal_or_timeout.delay(60.0)
    flows.cx.signal(handle.run_id, "note", 1, actor="ops")
    flows.cx.terminate(handle.run_id, "bad data", actor="ops")
    flows.cx.terminate(bystander.run_id, "bad data", actor="ops")
    about = f'attributes.customer = "{customer}"'
    out = ok(cli("audit", "--query", about, "--format", "jsonl", *APP))
    found = [json.loads(line) for line in out.splitlines()]
    assert [(e["run_id"], e["action"]) for e in found] == [(handle.run_id, "terminate"),
                                                           (handle.run_id, "signal")]  # fmt: skip
    narrowed = ok(cli("audit", "-q", f'{about} AND action = "signal"', "--format", "json", *APP))
    assert [e["action"] for e in json.loads(narrowed)] == ["signal"]
    also = ok(cli("audit", "-q", about, "--action", "terminate", "--format", "json", *APP))
    assert [e["action"] for e in json.loads(also)] == ["terminate"]
    refused(cli("audit", "-q", "action = terminate", *APP), "invalid query at position 9")
    refused(cli("audit", handle.run_id, "-q", about, *APP), "--query", "RUN_ID")
