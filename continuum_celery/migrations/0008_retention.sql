-- Retention: upkeep deletes finished runs older than Continuum(retention=), with
-- everything they own, a bounded batch per tick.
--
-- Finished runs are found oldest first through a partial index on completed_at, so
-- a tick reads only the runs it deletes (plus the few it must keep), however many
-- runs there are. The other indexes let each batch find the rows a run owns in the
-- tables whose keys do not start with the run id, and tell whether the chain of a
-- continued run still has a live run (a continued run's successors all carry the
-- chain's first run id as correlation_id).
CREATE INDEX IF NOT EXISTS cx_runs_finished ON cx_runs (completed_at)
    WHERE state IN ('completed', 'failed', 'cancelled', 'terminated', 'continued');
CREATE INDEX IF NOT EXISTS cx_runs_chain_live ON cx_runs (correlation_id)
    WHERE state IN ('running', 'blocked') AND correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS cx_signals_run ON cx_signals (run_id);
CREATE INDEX IF NOT EXISTS cx_start_keys_run ON cx_start_keys (run_id);
CREATE INDEX IF NOT EXISTS cx_activity_results_run ON cx_activity_results (run_id);
