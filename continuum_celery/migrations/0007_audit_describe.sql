-- Operator actions (signal, cancel, terminate, fork, retry now, ...): who, what, why
-- and when, written in the same transaction as the action's effect, so a refused
-- action leaves no row and no action happens without one.
CREATE TABLE cx_audit (
    id         bigserial   PRIMARY KEY,
    run_id     text        NOT NULL,
    action     text        NOT NULL,
    actor      text        NOT NULL,
    reason     text,
    details    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX cx_audit_run ON cx_audit (run_id, id);
CREATE INDEX cx_audit_created ON cx_audit (created_at, id);

-- Which worker process holds an activity's claim (host and pid), for operators.
ALTER TABLE cx_tasks ADD COLUMN claimed_by text;
