"""Building blocks every fenced transaction shares: locks, appends, wake markers."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from ..engine.events import Event
from ..errors import RunNotActive, RunNotFound
from . import queries as Q
from .db import Record, execute


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def append_event(
    conn: Connection,
    run_id: str,
    seq: int,
    type_: str,
    command_id: str | None,
    data: dict[str, Any],
) -> Event:
    """Append one event; returns it exactly as stored (jsonb normalizes the data)."""
    row = execute(
        conn,
        Q.INSERT_EVENT,
        {
            "run_id": run_id,
            "seq": seq,
            "type": type_,
            "command_id": command_id,
            "data": dumps(data),
        },
    ).one()
    return to_event(row)


def lock_run(conn: Connection, run_id: str) -> Record:
    row = execute(conn, Q.LOCK_RUN, {"id": run_id}).first()
    if row is None:
        raise RunNotFound(f"no run with id {run_id}")
    return row


ACTIVE = frozenset({"running", "blocked"})
"""States that still take input (completions, signals, timers): a blocked run has not
ended, it waits for fitting code."""


def lock_active_run(conn: Connection, run_id: str) -> Record:
    row = lock_run(conn, run_id)
    if row.state not in ACTIVE:
        raise RunNotActive(f"run {run_id} is {row.state}")
    return row


def mark_wake(conn: Connection, run_id: str, last_seq: int) -> None:
    execute(conn, Q.MARK_WAKE, {"id": run_id, "last_seq": last_seq})


def events_of(row: Record) -> list[Event]:
    """Events read as one array per column (``seqs``, ``types``, ...) in one row."""
    columns = (row.seqs, row.types, row.command_ids, row.datas, row.created_ats)
    return [Event(seq, type_, command_id, data or {}, at) for seq, type_, command_id, data, at
            in zip(*columns, strict=True)]  # fmt: skip


def to_event(row: Record) -> Event:
    return Event(row.seq, row.type, row.command_id, row.data or {}, row.created_at)
