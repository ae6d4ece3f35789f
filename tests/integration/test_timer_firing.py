"""Due waits fired set by set: one transaction, journal order, nothing waited for.

Rows are written straight into a database of the module's own, so each case is
exactly the one named: several due waits on one run, a wait of a run that ended,
a run another transaction holds locked.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from continuum_celery.journal.db import Database
from continuum_celery.journal.timer_firing import fire_due_waits


def add_run(db: Database, state: str = "running", last_seq: int = 3) -> str:
    run_id = str(uuid.uuid4())
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO cx_runs (id, workflow, state, last_seq) VALUES (:id, 'w', :s, :n)"),
            {"id": run_id, "s": state, "n": last_seq},
        )
    return run_id


def add_wait(db: Database, run_id: str, command_id: str, seconds: float) -> None:
    """A timer firing ``seconds`` from now (negative: overdue)."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cx_waits (run_id, command_id, kind, fires_at) VALUES"
                " (:r, :c, 'timer', clock_timestamp() + make_interval(secs => :s))"
            ),
            {"r": run_id, "c": command_id, "s": seconds},
        )


def journal(db: Database, run_id: str) -> dict[str, Any]:
    with db.engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT seq, type, command_id, data FROM cx_events WHERE run_id = :r ORDER BY seq"
            ),
            {"r": run_id},
        ).all()
        waits = conn.execute(
            text("SELECT command_id, resolved FROM cx_waits WHERE run_id = :r"), {"r": run_id}
        ).all()
        run = conn.execute(
            text("SELECT last_seq, wake_at IS NOT NULL AS marked FROM cx_runs WHERE id = :r"),
            {"r": run_id},
        ).one()
    return {
        "events": [(e.seq, e.type, e.command_id, e.data) for e in events],
        "resolved": {w.command_id: w.resolved for w in waits},
        "last_seq": run.last_seq,
        "marked": run.marked,
    }


def test_due_waits_of_one_run_fire_in_order_after_its_last_event(journal_db: Database) -> None:
    run_id = add_run(journal_db)
    add_wait(journal_db, run_id, "t:1", -1.0)
    add_wait(journal_db, run_id, "t:2", -2.0)  # due first
    add_wait(journal_db, run_id, "t:3", 60.0)

    fired = fire_due_waits(journal_db, "default", 500)

    assert [w for w in fired.waits if w[0] == run_id] == [(run_id, "t:2"), (run_id, "t:1")]
    assert fired.next_due_in is not None and 55 < fired.next_due_in <= 60
    assert journal(journal_db, run_id) == {
        "events": [
            (4, "timer_fired", "t:2", {"timer_id": "t:2"}),
            (5, "timer_fired", "t:1", {"timer_id": "t:1"}),
        ],
        "resolved": {"t:1": True, "t:2": True, "t:3": False},
        "last_seq": 5,
        "marked": True,
    }
    assert fire_due_waits(journal_db, "default", 500).waits == [], "each fires once"


def test_a_wait_of_a_run_that_ended_is_resolved_without_an_event(journal_db: Database) -> None:
    run_id = add_run(journal_db, state="completed")
    add_wait(journal_db, run_id, "t:1", -1.0)

    assert fire_due_waits(journal_db, "default", 500).waits == []
    expected = {"events": [], "resolved": {"t:1": True}, "last_seq": 3, "marked": False}
    assert journal(journal_db, run_id) == expected


def test_a_locked_run_is_skipped_not_waited_for_and_fires_next_time(
    journal_db: Database,
) -> None:
    busy, free = add_run(journal_db), add_run(journal_db)
    add_wait(journal_db, busy, "t:1", -1.0)
    add_wait(journal_db, free, "t:1", -0.5)
    with journal_db.engine.connect() as holder:  # a transaction holding the run row
        holder.execute(text("SELECT 1 FROM cx_runs WHERE id = :r FOR UPDATE"), {"r": busy})
        fired = fire_due_waits(journal_db, "default", 500)
        assert (free, "t:1") in fired.waits and (busy, "t:1") not in fired.waits
        assert fired.next_due_in is not None and fired.next_due_in < 0, "still overdue"
        holder.rollback()
    assert (busy, "t:1") in fire_due_waits(journal_db, "default", 500).waits
    assert journal(journal_db, busy)["events"] == [(4, "timer_fired", "t:1", {"timer_id": "t:1"})]
