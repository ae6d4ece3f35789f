"""How far parking and completion have got, read without adding to the counters.

Every read is rolled back (``RolledBackReads``), so polling a run of any size adds
nothing to the ``xact_commit`` the checkpoints measure.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from bench.reads import RolledBackReads

STALL_SECONDS = 120.0
"""Give up when nothing parks or completes for this long."""


class Progress:
    def __init__(self, url: str, workflow: str) -> None:
        self.reads = RolledBackReads(url, "parked")
        self.workflow = workflow
        """The signal-waiting workflow's name: its completions end the signal phase."""

    def close(self) -> None:
        self.reads.close()

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.reads.query(query, params)

    def setting(self, name: str) -> str:
        return str(self.query("SELECT current_setting(%s)", (name,))[0][0])

    def failures(self) -> list[tuple[Any, ...]]:
        return self.query(
            "SELECT id::text, workflow, state, error FROM cx_runs"
            " WHERE state IN ('failed', 'cancelled') LIMIT 5"
        )

    def parked(self) -> tuple[int, float | None]:
        # One wait row per run, written by the commit that parks it.
        count, last = self.query(
            "SELECT count(*), extract(epoch FROM max(created_at)) FROM cx_waits"
        )[0]
        return int(count), None if last is None else float(last)

    def completed(self) -> tuple[int, float | None]:
        count, last = self.query(
            "SELECT count(*), extract(epoch FROM max(completed_at)) FROM cx_runs"
            " WHERE workflow = %s AND state = 'completed'",
            (self.workflow,),
        )[0]
        return int(count), None if last is None else float(last)

    def waiting(self) -> int:
        return int(self.query("SELECT count(*) FROM cx_waits WHERE NOT resolved")[0][0])

    def signal_latency(self, ids: list[str]) -> tuple[float, float]:
        """p50 and p99 ms from each run's ``signal_received`` to its ``completed_at``."""
        p50, p99 = self.query(
            "SELECT 1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
            " 1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY d) FROM ("
            " SELECT extract(epoch FROM r.completed_at - e.created_at) AS d"
            " FROM cx_runs r JOIN cx_events e ON e.run_id = r.id"
            " AND e.type = 'signal_received' WHERE r.id = ANY(%s::text[])) s",
            (ids,),
        )[0]
        return float(p50), float(p99)

    def wait_for(
        self, what: str, probe: Callable[[], tuple[int, float | None]], want: int
    ) -> float:
        """Poll ``probe`` (count, last timestamp) until count >= want; the last timestamp."""
        last_count, last_change = -1, time.monotonic()
        # Each poll scans a table of up to N rows: poll big runs once a second.
        pause = 0.1 if want < 1000 else 1.0
        for polls in itertools.count():
            count, stamp = probe()
            if count >= want:
                return float(stamp or time.time())
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > STALL_SECONDS:
                raise TimeoutError(
                    f"parked: {what}: stuck at {count}/{want} for {STALL_SECONDS:.0f} s;"
                    f" failed runs: {self.failures()}"
                )
            if polls % 10 == 9:
                bad = self.failures()
                if bad:
                    raise RuntimeError(f"parked: {what}: runs failed: {bad}")
            time.sleep(pause)
        raise AssertionError("unreachable")

    def table_stats(self) -> dict[str, Any]:
        """Size, live/dead tuples and the last autovacuum/autoanalyze of the journal tables."""
        rows = self.query(
            "SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid),"
            " last_autovacuum::text, last_autoanalyze::text"
            " FROM pg_stat_user_tables WHERE relname IN ('cx_runs', 'cx_waits', 'cx_events')"
        )
        return {
            str(r[0]): {
                "live_tuples": int(r[1]),
                "dead_tuples": int(r[2]),
                "total_mb": int(r[3]) / 2**20,
                "last_autovacuum": r[4],
                "last_autoanalyze": r[5],
            }
            for r in rows
        }
