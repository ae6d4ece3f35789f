-- Failures that are recoverable: cooperative cancel, terminate, blocked runs, forks.
--
-- `blocked` is not an end: a run whose replay drifted, or whose code no worker has,
-- waits there (history untouched) until fitting code is deployed, and upkeep retries
-- it with backoff. `terminated` is an operator's hard stop.

ALTER TABLE cx_runs DROP CONSTRAINT IF EXISTS cx_runs_state_check;
ALTER TABLE cx_runs ADD CONSTRAINT cx_runs_state_check CHECK (state IN
    ('running', 'blocked', 'completed', 'failed', 'cancelled', 'terminated', 'continued'));

ALTER TABLE cx_runs
    -- A cancel request: the workflow gets workflow.Cancelled at its current wait.
    ADD COLUMN cancel_requested_at timestamptz,
    ADD COLUMN cancel_reason       text,
    -- The workflow exception's traceback, for a run that failed by raising.
    ADD COLUMN traceback           text,
    -- A fork: the run it was copied from, and the seq the copy stopped before.
    ADD COLUMN forked_from         text,
    ADD COLUMN fork_seq            bigint;
