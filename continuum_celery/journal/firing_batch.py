"""The usual upkeep pass over a batch of due schedules, set by set.

A round trip per schedule made 10,000 schedules due on the same minute take
seconds to start. Here a batch costs a fixed number of statements, however many
schedules it holds: one reads the state of every open run (each schedule's last
run, followed to the newest run of its chain), each schedule is planned in Python
(``schedules.plan``, pure), one inserts every run the batch starts, and one moves
every cursor. Exactly-once is unchanged: the rows stay locked by the caller, and a
run id already taken starts nothing (``ON CONFLICT DO NOTHING``).

A schedule whose plan cancels or terminates its open run goes step by step
(``firing_steps.apply_steps``): the run it ends may be one its own plan started.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..schedules.plan import Plan, plan
from .db import execute
from .firing_steps import (
    Applied,
    apply_steps,
    changed,
    due_of,
    iso,
    saved,
    tick_run,
    tick_run_id,
)
from .lifecycle import MAX_HOPS
from .queries import q
from .records import NewRun
from .rows import ACTIVE, dumps
from .schedules import ScheduleRecord

# Each run followed along its chain (a run that continued as new) to the newest one.
CHAIN_TIP_STATES = q(
    "WITH RECURSIVE chain (start_id, id, state, next_run_id, hops) AS ("
    " SELECT id, id, state, next_run_id, 0 FROM cx_runs WHERE id = ANY(CAST(:ids AS text[]))"
    " UNION ALL SELECT chain.start_id, r.id, r.state, r.next_run_id, chain.hops + 1"
    " FROM chain JOIN cx_runs r ON r.id = chain.next_run_id"
    " WHERE chain.state = 'continued' AND chain.hops < :max_hops)"
    " SELECT DISTINCT ON (start_id) start_id, state FROM chain ORDER BY start_id, hops DESC"
)
# The same columns and values as ``INSERT_RUN`` (no eta: woken at once), many rows.
INSERT_RUNS = q(
    "INSERT INTO cx_runs (id, workflow, version, namespace, args, kwargs, attributes,"
    " idempotency_key, parent_run_id, wake_at, wake_nudges, scope)"
    " SELECT r.id, r.workflow, r.version, r.namespace, r.args, r.kwargs, r.attributes,"
    " r.key, r.parent_run_id, clock_timestamp(), 0, r.scope"
    " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id text, workflow text,"
    " version integer, namespace text, args jsonb, kwargs jsonb, attributes jsonb, key text,"
    " parent_run_id text, scope text)"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
SAVE_FIRINGS = q(
    "UPDATE cx_schedules AS s SET next_tick = u.next_tick, next_fire_at = u.next_fire_at,"
    " buffered = u.buffered, last_run_id = u.last_run_id, actions = s.actions + u.actions,"
    " missed_catchup = s.missed_catchup + u.missed,"
    " overlap_skipped = s.overlap_skipped + u.skipped,"
    " buffer_dropped = s.buffer_dropped + u.dropped,"
    " recent_actions = jsonb_path_query_array(s.recent_actions || u.recent,"
    " '$[last - 9 to last]')"
    " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(id text, next_tick timestamptz,"
    " next_fire_at timestamptz, buffered jsonb, last_run_id text, actions bigint,"
    " missed bigint, skipped bigint, dropped bigint, recent jsonb)"
    " WHERE s.id = u.id"
)


def fire_batch(conn: Connection, schedules: list[ScheduleRecord], now: datetime) -> list[str]:
    """Plan, start and save every schedule of the (locked) batch; returns the runs
    to wake once the transaction has committed."""
    running = open_runs(conn, [s.last_run_id for s in schedules if s.overlap != "allow_all"])
    plans = [(s, plan(due_of(s, s.overlap, s.last_run_id in running), now)) for s in schedules]
    starting = [(s, p) for s, p in plans if _starts_only(p)]
    ending = [(s, p) for s, p in plans if not _starts_only(p)]
    done = [(s, p, _step_by_step(conn, s, p, now)) for s, p in ending]
    created = insert_runs(conn, [_runs_of(s, p) for s, p in starting])
    done += [(s, p, _started(s, p, created, now)) for s, p in starting]
    save_all(conn, [saved(s, a, p, (p.next_tick, p.next_fire_at)) for s, p, a in done
                    if changed(s, p)])  # fmt: skip
    return [run_id for _s, _p, applied in done for run_id in applied.woken]


def open_runs(conn: Connection, run_ids: Iterable[str | None]) -> set[str]:
    """Those of ``run_ids`` whose chain's newest run is still open, in one query."""
    ids = sorted({run_id for run_id in run_ids if run_id is not None})
    if not ids:
        return set()
    rows = execute(conn, CHAIN_TIP_STATES, {"ids": ids, "max_hops": MAX_HOPS})
    return {row.start_id for row in rows if row.state in ACTIVE}


def insert_runs(conn: Connection, batches: Iterable[list[dict[str, Any]]]) -> set[str]:
    """Insert every run in one statement; returns the ids inserted (a taken id
    means its tick already started, and is left out)."""
    rows = [run for runs in batches for run in runs]
    if not rows:
        return set()
    return {row.id for row in execute(conn, INSERT_RUNS, {"rows": dumps(rows)})}


def save_all(conn: Connection, saves: list[dict[str, Any]]) -> None:
    """Move every changed schedule's cursor and counters in one statement."""
    if saves:
        rows = [{**row, "next_tick": _iso(row["next_tick"]),
                 "next_fire_at": _iso(row["next_fire_at"])} for row in saves]  # fmt: skip
        execute(conn, SAVE_FIRINGS, {"rows": dumps(rows)})


def _starts_only(p: Plan) -> bool:
    return all(step.kind == "start" for step in p.steps)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _step_by_step(conn: Connection, s: ScheduleRecord, p: Plan, now: datetime) -> Applied:
    return apply_steps(conn, s, p.steps, now, lambda tick: tick_run_id(s.id, tick), "tick")


def _runs_of(s: ScheduleRecord, p: Plan) -> list[dict[str, Any]]:
    """The plan's runs as rows for ``INSERT_RUNS`` (the values ``INSERT_RUN`` takes)."""
    runs = [tick_run(s, tick, tick_run_id(s.id, tick)) for tick in _ticks(p)]
    return [_row(run, s.scope) for run in runs]


def _row(run: NewRun, scope: str) -> dict[str, Any]:
    return {"id": run.run_id, "workflow": run.workflow, "version": run.version,
            "namespace": run.namespace, "args": run.args, "kwargs": run.kwargs,
            "attributes": run.attributes, "key": run.idempotency_key,
            "parent_run_id": run.parent_run_id, "scope": scope}  # fmt: skip


def _started(s: ScheduleRecord, p: Plan, created: set[str], now: datetime) -> Applied:
    """What the batch insert did for this schedule, as ``apply_steps`` reports it."""
    applied = Applied(s.last_run_id)
    for tick in _ticks(p):
        applied.last_run_id = tick_run_id(s.id, tick)
        if applied.last_run_id in created:
            applied.started(applied.last_run_id, tick, now, "tick")
    return applied


def _ticks(p: Plan) -> list[datetime]:
    return [step.tick for step in p.steps if step.tick is not None]
