-- Bulk jobs: one operator action (cancel, terminate, fork, signal) over every run a
-- query matched when the job was created. The selection is frozen into
-- cx_job_items in the transaction that creates the job, so runs started later are
-- never swept in; upkeep carries the items out in bounded batches.
CREATE TABLE cx_jobs (
    id         text        PRIMARY KEY,
    action     text        NOT NULL,
    query      text        NOT NULL,
    args       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    reason     text        NOT NULL,
    actor      text        NOT NULL,
    state      text        NOT NULL DEFAULT 'running',
    total      integer     NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at   timestamptz,
    -- The app that created it (Continuum(scope=)): its upkeep carries the job out,
    -- and the job selects only that scope's runs.
    scope      text        NOT NULL DEFAULT 'default'
);
CREATE INDEX cx_jobs_created ON cx_jobs (created_at, id);

-- One row per selected run: pending until upkeep applies the action, then done or
-- failed (with the refusal's text). No foreign key to cx_runs: retention may
-- delete a run while its job waits, and that item then fails as "not found".
CREATE TABLE cx_job_items (
    job_id   text        NOT NULL REFERENCES cx_jobs (id) ON DELETE CASCADE,
    run_id   text        COLLATE "C" NOT NULL,
    state    text        NOT NULL DEFAULT 'pending',
    error    text,
    ended_at timestamptz,
    PRIMARY KEY (job_id, run_id)
);
CREATE INDEX cx_job_items_pending ON cx_job_items (job_id, run_id) WHERE state = 'pending';

-- An item's audit row names its job; the job's own rows (created, aborted) have no
-- run. A crashed batch is resumed by looking for the item's audit row, so an action
-- that committed is never applied twice (a signal is not idempotent). The row is
-- found by the run the job asked for: an action on a continue-as-new chain is
-- recorded on its newest run, naming the one asked in details.
ALTER TABLE cx_audit ALTER COLUMN run_id DROP NOT NULL;
ALTER TABLE cx_audit ADD COLUMN job_id text;
CREATE INDEX cx_audit_job ON cx_audit
    (job_id, (COALESCE((details ->> 'requested_run_id') COLLATE "C", run_id)))
    WHERE job_id IS NOT NULL;
