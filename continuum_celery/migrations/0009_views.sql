-- Read-only views for operators (psql, Grafana, BI tools). Their names and columns
-- are a stable contract: the cx_* tables behind them may change between versions,
-- these may only gain columns. See docs/operations.md, "SQL views".

CREATE VIEW continuum_runs AS
SELECT id,
       workflow,
       version,
       namespace,
       state,
       error,
       attributes,
       parent_run_id,
       continued_from,
       next_run_id,
       forked_from,
       fork_seq,
       cancel_requested_at,
       cancel_reason,
       created_at,
       completed_at AS ended_at,
       GREATEST(created_at, cancel_requested_at, completed_at) AS updated_at
  FROM cx_runs;

CREATE VIEW continuum_events AS
SELECT run_id, seq, type, command_id, data, created_at
  FROM cx_events;

CREATE VIEW continuum_attempts AS
SELECT t.run_id,
       t.id::text AS task_id,
       t.command_id,
       t.activity,
       t.kind,
       a.attempt,
       a.outcome,
       a.error,
       a.started_at,
       a.finished_at
  FROM cx_attempts a
  JOIN cx_tasks t ON t.id = a.task_id;

-- Simple views are writable in Postgres; these are for reading, so a write
-- through one is refused rather than reaching the journal. (No percent sign in
-- this file: the driver reads it as a placeholder.)
CREATE FUNCTION continuum_views_read_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the ' || TG_TABLE_NAME || ' view is read-only',
        ERRCODE = 'feature_not_supported';
END;
$$;

CREATE TRIGGER continuum_runs_read_only
    INSTEAD OF INSERT OR UPDATE OR DELETE ON continuum_runs
    FOR EACH ROW EXECUTE FUNCTION continuum_views_read_only();
CREATE TRIGGER continuum_events_read_only
    INSTEAD OF INSERT OR UPDATE OR DELETE ON continuum_events
    FOR EACH ROW EXECUTE FUNCTION continuum_views_read_only();
CREATE TRIGGER continuum_attempts_read_only
    INSTEAD OF INSERT OR UPDATE OR DELETE ON continuum_attempts
    FOR EACH ROW EXECUTE FUNCTION continuum_views_read_only();
