-- continuum_celery journal, version 1.
-- Postgres is the only source of truth: runs, their journal, activity tasks and
-- attempts, durable waits (timers and signal awaits), the signal mailbox and
-- start-idempotency keys all live here. Celery messages only carry ids.

-- Fencing tokens for run leases and activity claims. One global sequence, so a
-- token only ever increases.
CREATE SEQUENCE cx_token_seq;

CREATE TABLE cx_runs (
    id               uuid PRIMARY KEY,
    workflow         text        NOT NULL,
    version          integer     NOT NULL DEFAULT 1,
    namespace        text        NOT NULL DEFAULT 'default',
    state            text        NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'completed', 'failed', 'cancelled', 'continued')),
    args             jsonb       NOT NULL DEFAULT '[]',
    kwargs           jsonb       NOT NULL DEFAULT '{}',
    result           jsonb,
    error            text,
    attributes       jsonb       NOT NULL DEFAULT '{}',
    idempotency_key  text,
    parent_run_id    uuid,
    last_seq         bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at     timestamptz,
    -- The run lease: who may replay and append decisions right now.
    lease_owner      text,
    lease_token      bigint,
    lease_expires_at timestamptz,
    -- Durable wake marker: set when input lands that no replay has seen yet.
    -- Cleared only by a replay that commits having seen everything.
    wake_at          timestamptz
);
-- Upkeep looks for runs that need a replay; only runs with a marker are indexed,
-- so parked runs cost nothing.
CREATE INDEX cx_runs_wake ON cx_runs (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX cx_runs_parent ON cx_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE cx_events (
    run_id     uuid        NOT NULL,
    seq        bigint      NOT NULL,
    type       text        NOT NULL,
    command_id text,
    data       jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE cx_tasks (
    id               uuid PRIMARY KEY,
    run_id           uuid        NOT NULL,
    command_id       text        NOT NULL,
    activity         text        NOT NULL,
    args             jsonb       NOT NULL DEFAULT '[]',
    kwargs           jsonb       NOT NULL DEFAULT '{}',
    queue            text,
    priority         integer,
    timeout          double precision NOT NULL,
    retry            jsonb       NOT NULL,
    attempt          integer     NOT NULL DEFAULT 1,
    state            text        NOT NULL DEFAULT 'ready'
        CHECK (state IN ('ready', 'claimed', 'completed', 'failed', 'cancelled')),
    available_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at     timestamptz,
    claim_token      bigint,
    -- A claim lives for the claim TTL and is renewed while its worker is alive, but
    -- never past the attempt's deadline (claim time + timeout).
    claim_expires_at timestamptz,
    deadline_at      timestamptz,
    heartbeat_at     timestamptz,
    heartbeat_details jsonb,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (run_id, command_id)
);
-- Upkeep: tasks waiting to be (re)published, and claims that may have expired.
CREATE INDEX cx_tasks_ready ON cx_tasks (available_at) WHERE state = 'ready';
CREATE INDEX cx_tasks_claimed ON cx_tasks (claim_expires_at) WHERE state = 'claimed';

CREATE TABLE cx_attempts (
    task_id     uuid        NOT NULL,
    attempt     integer     NOT NULL,
    claim_token bigint      NOT NULL,
    outcome     text        NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'completed', 'failed', 'timed_out', 'lost', 'cancelled')),
    error       text,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    PRIMARY KEY (task_id, attempt)
);

-- A durable wait: a sleep timer, or a signal await with an optional deadline.
-- Resolving it (firing, or consuming a signal) flips `resolved` under the run-row
-- lock, so a signal racing its own timeout has exactly one winner.
CREATE TABLE cx_waits (
    run_id     uuid        NOT NULL,
    command_id text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('timer', 'signal')),
    name       text,
    fires_at   timestamptz,
    resolved   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, command_id)
);
CREATE INDEX cx_waits_due ON cx_waits (fires_at) WHERE NOT resolved AND fires_at IS NOT NULL;
CREATE INDEX cx_waits_signal ON cx_waits (run_id, name) WHERE NOT resolved AND kind = 'signal';

-- Signals sent before the workflow awaits them wait here, oldest first per name.
CREATE TABLE cx_signals (
    id          bigserial PRIMARY KEY,
    run_id      uuid        NOT NULL,
    name        text        NOT NULL,
    payload     jsonb,
    consumed    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX cx_signals_pending ON cx_signals (run_id, name, id) WHERE NOT consumed;

-- Start idempotency: a second start with the same key returns the first run.
CREATE TABLE cx_start_keys (
    namespace       text        NOT NULL,
    workflow        text        NOT NULL,
    idempotency_key text        NOT NULL,
    run_id          uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (namespace, workflow, idempotency_key)
);
