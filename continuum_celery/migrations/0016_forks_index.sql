-- A run's forks, found by index.
--
-- Describing a run (its page in the web UI, `runs describe`) lists the runs forked
-- from it; without an index that read scanned every run (about 200 ms on 1,000,000
-- runs) for every describe. Forks are few, so the index is partial.
CREATE INDEX IF NOT EXISTS cx_runs_forked_from ON cx_runs (forked_from)
    WHERE forked_from IS NOT NULL;
