-- Listing runs by query (cx.list_runs, cx.count_runs).
--
-- Listings are keyset-paged on (created_at, id), newest first by default; each
-- btree below ends in those two columns, so a filter on its leading column is
-- served in order, one page at a time, however many runs there are. Search
-- attributes are matched by containment (attributes @> '{"k": v}'), which the
-- jsonb_path_ops GIN index serves for any key.
--
-- "updated_at" needs no column: the query language computes it as the latest of
-- created_at, cancel_requested_at and completed_at, so no write pays for it.
CREATE INDEX IF NOT EXISTS cx_runs_created ON cx_runs (created_at, id);
CREATE INDEX IF NOT EXISTS cx_runs_state_created ON cx_runs (state, created_at, id);
CREATE INDEX IF NOT EXISTS cx_runs_workflow_created ON cx_runs (workflow, created_at, id);
CREATE INDEX IF NOT EXISTS cx_runs_attributes ON cx_runs USING gin (attributes jsonb_path_ops);
