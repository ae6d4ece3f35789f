-- Upkeep runs inside every celery worker; one of them leads at a time. The leader
-- holds this single row by renewing its expiry (judged by the database clock); a
-- leader that dies or freezes stops renewing, and another worker takes the row
-- over once it has expired.
CREATE TABLE cx_upkeep_leader (
    id         smallint    PRIMARY KEY CHECK (id = 1),
    owner      text        NOT NULL,
    since      timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at timestamptz NOT NULL
);
