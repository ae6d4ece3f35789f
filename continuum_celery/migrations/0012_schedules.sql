-- Durable schedules: cron and interval starts, fired by upkeep exactly once per tick.
--
-- next_tick is the schedule's cursor (every earlier tick has been handled) and
-- next_fire_at the instant upkeep acts on it (the tick plus its jitter). Upkeep
-- finds due schedules through the partial index on next_fire_at, so a paused
-- schedule, or one whose next tick is far off, costs nothing; schedules holding
-- buffered ticks have an index of their own. Both lead with the app's scope
-- (migration 11): each app's upkeep fires its own schedules only. Each started run's id is derived from
-- (schedule id, tick), and it is inserted in the transaction that moves the cursor.
CREATE TABLE IF NOT EXISTS cx_schedules (
    id              text PRIMARY KEY,
    workflow        text             NOT NULL,
    specs           jsonb            NOT NULL,
    tz              text             NOT NULL DEFAULT 'UTC',
    dst_gap         text             NOT NULL DEFAULT 'shift' CHECK (dst_gap IN ('shift', 'skip')),
    dst_fold        text             NOT NULL DEFAULT 'once' CHECK (dst_fold IN ('once', 'twice')),
    args            jsonb            NOT NULL DEFAULT '[]',
    kwargs          jsonb            NOT NULL DEFAULT '{}',
    overlap         text             NOT NULL DEFAULT 'skip' CHECK (overlap IN
        ('skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all')),
    catchup_window  double precision NOT NULL,
    jitter          double precision NOT NULL DEFAULT 0,
    paused          boolean          NOT NULL DEFAULT false,
    note            text,
    next_tick       timestamptz,
    next_fire_at    timestamptz,
    last_run_id     text,
    buffered        jsonb            NOT NULL DEFAULT '[]',
    actions         bigint           NOT NULL DEFAULT 0,
    missed_catchup  bigint           NOT NULL DEFAULT 0,
    overlap_skipped bigint           NOT NULL DEFAULT 0,
    buffer_dropped  bigint           NOT NULL DEFAULT 0,
    recent_actions  jsonb            NOT NULL DEFAULT '[]',
    created_at      timestamptz      NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz      NOT NULL DEFAULT clock_timestamp(),
    scope           text             NOT NULL DEFAULT 'default'
);
CREATE INDEX IF NOT EXISTS cx_schedules_due ON cx_schedules (scope, next_fire_at)
    WHERE NOT paused AND next_fire_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS cx_schedules_buffered ON cx_schedules (scope, id)
    WHERE NOT paused AND buffered <> '[]'::jsonb;
