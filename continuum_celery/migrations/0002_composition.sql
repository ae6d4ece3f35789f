-- Composition: child runs, continue-as-new chains, compensations and cross-run
-- activity idempotency; backoff for upkeep's re-publishing.

ALTER TABLE cx_runs
    ADD COLUMN depth             integer NOT NULL DEFAULT 0,
    ADD COLUMN parent_command_id text,
    ADD COLUMN continued_from    uuid,
    ADD COLUMN next_run_id       uuid,
    ADD COLUMN correlation_id    uuid,
    -- How often upkeep re-published this run's wakeup since a replay last caught up:
    -- each nudge waits twice as long, so a backlog is not flooded with copies.
    ADD COLUMN wake_nudges       integer NOT NULL DEFAULT 0;

ALTER TABLE cx_tasks
    ADD COLUMN kind            text NOT NULL DEFAULT 'activity'
        CHECK (kind IN ('activity', 'compensation')),
    ADD COLUMN idempotency_key text,
    ADD COLUMN publish_count   integer NOT NULL DEFAULT 1;

-- One committed result per (activity, key), across all runs. Replay never reads
-- this table; it only decides which result a new task journals.
CREATE TABLE cx_activity_results (
    activity        text        NOT NULL,
    idempotency_key text        NOT NULL,
    result          jsonb,
    run_id          uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (activity, idempotency_key)
);
