"""Reading the journal after the soak: every run ended, with the right result, each
command decided and resolved once, no seq gaps, and every completion backed by a body
execution. Also what the workers were handed, from their logs."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from soak_common import log
from soak_plan import Planned
from soak_report import Report

TERMINAL = ("completed", "failed", "cancelled", "terminated", "continued")
TERMINAL_EVENTS = ("activity_completed", "activity_failed", "timer_fired", "signal_received")
DECISIONS = ("activity_scheduled", "timer_started", "signal_awaited", "side_effect")

UNFINISHED = "SELECT count(*) FROM cx_runs WHERE id = ANY(%s::text[]) AND state = 'running'"
RUNS = "SELECT id::text, state, result, error FROM cx_runs WHERE id = ANY(%s::text[])"
EVENTS = (
    "SELECT run_id::text, seq, type, command_id, data FROM cx_events"
    " WHERE run_id = ANY(%s::text[]) ORDER BY run_id, seq"
)
ATTEMPTS = "SELECT outcome, count(*) FROM cx_attempts GROUP BY outcome"
LOST_RUN = (
    "SELECT workflow, state, wake_at, lease_owner, lease_expires_at, last_seq"
    " FROM cx_runs WHERE id = %s"
)
LOST_TAIL = (
    "SELECT seq, type, command_id FROM cx_events WHERE run_id = %s ORDER BY seq DESC LIMIT 4"
)
LOST_TASKS = (
    "SELECT command_id, state, attempt, published_at FROM cx_tasks WHERE run_id = %s"
    " AND state IN ('ready', 'claimed')"
)
LOST_WAITS = "SELECT command_id, kind, fires_at FROM cx_waits WHERE run_id = %s AND NOT resolved"

Row = tuple[Any, ...]


def unfinished(database_url: str, run_ids: list[str]) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(UNFINISHED, (run_ids,)).fetchone()
    return int(row[0]) if row else len(run_ids)


def read_journal(database_url: str, run_ids: list[str]) -> tuple[list[Row], list[Row], list[Row]]:
    """The runs, their events in order, and attempt counts by outcome."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        runs = conn.execute(RUNS, (run_ids,)).fetchall()
        events = conn.execute(EVENTS, (run_ids,)).fetchall()
        attempts = conn.execute(ATTEMPTS).fetchall()
    return runs, events, attempts


def check(database_url: str, planned: list[Planned], state: Path, report: Report) -> None:
    by_id = {p.run_id: p for p in planned}
    runs, events, attempts = read_journal(database_url, list(by_id))
    report.attempts = dict(attempts)
    history: dict[str, list[Row]] = collections.defaultdict(list)
    for row in events:
        history[row[0]].append(row)
    report.events = len(events)
    report.runs = len(planned)
    seen = {row[0] for row in runs}
    report.lost += [p.run_id for p in planned if p.run_id not in seen]  # never started
    completed_keys: collections.Counter[str] = collections.Counter()
    for run in runs:
        check_run(run, by_id[run[0]], history[run[0]], report, completed_keys)
    count_bodies(state, completed_keys, report)
    report.deliveries = count_deliveries(state)


def check_run(
    run: Row, planned: Planned, rows: list[Row], report: Report, completed: collections.Counter[str]
) -> None:
    """One run's end state and result, its history, and the activities it completed."""
    run_id, run_state, result, error = run
    if run_state not in TERMINAL:
        report.lost.append(run_id)
        return
    report.finished += 1
    if run_state != "completed":
        report.failed.append(f"{run_id} {run_state}: {error}")
    elif result != planned.expected:
        report.wrong.append(f"{run_id}: {result!r} != {planned.expected!r}")
    check_history(run_id, rows, report)
    tag = planned.args[0]
    for r in rows:
        if r[2] == "activity_completed":
            completed[f"{tag}:{r[3].rsplit(':', 1)[1]}"] += 1
            report.completions += 1


def check_history(run_id: str, rows: list[Row], report: Report) -> None:
    """Seqs run 1..n without a gap; no command decided twice or resolved twice."""
    if [r[1] for r in rows] != list(range(1, len(rows) + 1)):
        report.gaps.append(run_id)
    decided = collections.Counter(r[3] for r in rows if r[2] in DECISIONS)
    resolved = collections.Counter(r[3] for r in rows if r[2] in TERMINAL_EVENTS)
    if any(n > 1 for n in decided.values()) or any(n > 1 for n in resolved.values()):
        report.duplicated.append(run_id)


def count_bodies(state: Path, completed: collections.Counter[str], report: Report) -> None:
    """Body executions the app logged, against the completions the journal holds."""
    path = state / "bodies.log"
    bodies = collections.Counter(path.read_text().split() if path.exists() else ())
    report.body_executions = sum(bodies.values())
    # Activities are numbered per run by command ordinal, which matches the index
    # each workflow passes as the body key.
    report.never_executed = sum(1 for key in completed if bodies.get(key, 0) == 0)


def count_deliveries(state: Path) -> dict[str, int]:
    """What the workers were handed, from their logs: useful work and duplicates."""
    counts: collections.Counter[str] = collections.Counter()
    for path in state.glob("worker*.log"):
        for line in path.read_text(errors="replace").splitlines():
            kind = delivery(line)
            if kind is not None:
                counts[kind] += 1
    return dict(counts)


def delivery(line: str) -> str | None:
    """The kind of delivery a worker log line records, if it records one."""
    if "] received" in line:
        return "advance" if "continuum.advance[" in line else "activity"
    if "ignored message:" in line:
        return "activity ignored (duplicate or stale)"
    if "raised unexpected" in line:
        return "task errors"
    return None


def describe_lost(database_url: str, run_ids: Sequence[str]) -> None:
    """Log where the first ten lost runs stand: the run row, its last events, and
    what it still waits on."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for run_id in run_ids[:10]:
            run = conn.execute(LOST_RUN, (run_id,)).fetchone()
            tail = conn.execute(LOST_TAIL, (run_id,)).fetchall()
            tasks = conn.execute(LOST_TASKS, (run_id,)).fetchall()
            waits = conn.execute(LOST_WAITS, (run_id,)).fetchall()
            log(f"  lost {run_id}: {run} last={tail} open tasks={tasks} waits={waits}")
