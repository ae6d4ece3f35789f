-- Run ids become text: any string of 1-200 printable characters, so a run can be
-- named after the business object it serves ("order-42"). Runs started without an
-- id still get a UUID, and existing ids keep their canonical UUID spelling, so every
-- run, event, task, wait and signal recorded so far keeps its links. Columns use the
-- "C" collation: ids are compared byte for byte, never sorted for people, and the
-- primary-key index stays as cheap to search as it was with uuid keys. Changing a
-- column's type rebuilds its indexes and keys in place. Activity task ids stay uuid.

ALTER TABLE cx_runs
    ALTER COLUMN id             TYPE text COLLATE "C" USING id::text,
    ALTER COLUMN parent_run_id  TYPE text COLLATE "C" USING parent_run_id::text,
    ALTER COLUMN continued_from TYPE text COLLATE "C" USING continued_from::text,
    ALTER COLUMN next_run_id    TYPE text COLLATE "C" USING next_run_id::text,
    ALTER COLUMN correlation_id TYPE text COLLATE "C" USING correlation_id::text,
    ADD CONSTRAINT cx_runs_id_length CHECK (length(id) BETWEEN 1 AND 200),
    -- Workflow version 0: started by name from a process without the code; the
    -- first worker that replays the run pins it to the newest version it has.
    ADD CONSTRAINT cx_runs_version_known CHECK (version >= 0);

ALTER TABLE cx_events           ALTER COLUMN run_id TYPE text COLLATE "C" USING run_id::text;
ALTER TABLE cx_tasks            ALTER COLUMN run_id TYPE text COLLATE "C" USING run_id::text;
ALTER TABLE cx_waits            ALTER COLUMN run_id TYPE text COLLATE "C" USING run_id::text;
ALTER TABLE cx_signals          ALTER COLUMN run_id TYPE text COLLATE "C" USING run_id::text;
ALTER TABLE cx_start_keys       ALTER COLUMN run_id TYPE text COLLATE "C" USING run_id::text;
ALTER TABLE cx_activity_results ALTER COLUMN run_id TYPE text COLLATE "C" USING run_id::text;
