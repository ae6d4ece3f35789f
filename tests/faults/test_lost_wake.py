"""Completions that land while a (slow) replay of the same run is in flight.

The wakeup published for such a completion finds the lease taken and is dropped by
design; the replay holding the lease must notice the new input when it commits and
replay again. Upkeep's stale-wake rescue is switched off here (``wake_stale_after``
of an hour), so a wakeup lost in that window would leave the run parked for good
with unprocessed events instead of being papered over.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from tests.faults.apps.chaos import spin
from tests.faults.support import Lab, assert_journal, has_event, rounds_for, wait_for


def test_completions_during_slow_replays_are_never_lost(lab: Lab) -> None:
    lab.configure(wake_stale_after=3600)
    lab.workers(("a", {"beat": True, "concurrency": 3}), ("b", {"concurrency": 3}))
    client = lab.client()
    rounds = rounds_for(0.3)
    width, phases = 8, 2
    keys = [uuid.uuid4().hex for _ in range(3)]
    handles = [client.slow_replay.delay(k, width, rounds, phases) for k in keys]

    def parked(handle: Any) -> dict[str, Any] | None:
        """The run row once the run waits for ``finish`` and holds no lease.

        The history is read before the row: a completion may commit the last steps
        in between (eager continuation takes no lease), and a row read first could
        then describe an earlier moment than the history.
        """
        waiting = has_event(handle, "signal_awaited", "finish")
        row = lab.run_row(handle.run_id)
        return row if waiting and row["lease_owner"] is None else None

    for handle in handles:
        # At rest: every event replayed, no wake marker, no lease left behind.
        row = wait_for(partial(parked, handle), 90, "the run to park")
        history = handle.history()
        assert history[-1].type == "signal_awaited"
        assert row["wake_at"] is None, row
        assert row["last_seq"] == history[-1].seq == len(history)
        handle.signal("finish")

    for key, handle in zip(keys, handles, strict=True):
        assert handle.result(timeout=30) == {
            "results": [[p, i] for p in range(phases) for i in range(width)],
            "checksum": spin(rounds) * phases % 1_000_003,
        }
        assert_journal(handle.history(), activities=width * phases)
        row = lab.run_row(handle.run_id)
        assert row["wake_at"] is None and row["lease_owner"] is None, row
        for p in range(phases):
            for i in range(width):
                assert client.calls(f"{key}-{p}-{i}") >= 1
