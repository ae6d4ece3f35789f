"""Parked runs: what many waiting workflows cost (``python -m bench.run --parked N``).

N runs are started through the public API (``.apply_async``) and parked by real
``celery worker`` subprocesses: most wait on a signal, a share (``--parked-timers``,
10 %) on an hour-long ``workflow.sleep`` that never fires during the bench. At each
checkpoint (by default after 1,000, 10,000 and N parked runs, plus a baseline after
the warm-up and a last one after the signal phase) the bench records:

- the worker's memory: VmRSS (``/proc/<pid>/status``) and PSS (``smaps_rollup``, which
  splits pages shared between the forked processes) of the main process, the embedded
  beat and every pool child, summed;
- the upkeep tick: ``cx.upkeep()`` timed from the bench process, with the SQL
  statements, commits and rollbacks it sends (counted on the bench process' engine),
  and ``EXPLAIN (ANALYZE, BUFFERS)`` of each upkeep query;
- the background with the workers idle: ``xact_commit``/s of the database, worker CPU
  and the durations of beat's own ``continuum.upkeep`` tasks (from the worker log).

Then every signal-waiting run is signalled (``cx.signal``, from a few threads) and
the bench times the first signal to the last run's ``completed_at``.

Submission and signalling are paced by the broker backlog: a client thread waits
while more than ``--parked-window`` messages sit in the queue. Without that, runs
would wait in the queue longer than upkeep's ``wake_stale_after`` (5 s) and upkeep
would start re-publishing their wakeups, which measures an overloaded broker rather
than parked runs. The time threads spend waiting is reported (``gate_wait_s``): when
it is large, the workers, not the client, set the pace.
"""

from bench.parked.report import render_parked
from bench.parked.runner import bench_parked

__all__ = ["bench_parked", "render_parked"]
