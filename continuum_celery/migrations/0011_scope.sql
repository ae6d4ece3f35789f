-- Scopes: several Celery apps may share one database. Each run belongs to the scope
-- of the app that started it (Continuum(scope=), 'default' unless set), and each app's
-- upkeep and workers touch only the runs of their own scope.
--
-- Adding a column with a constant default only changes the catalog (PostgreSQL 11
-- and later): existing rows read as 'default', so an upgraded single-app deployment
-- keeps every run it had, and nothing is rewritten. Tasks and waits carry their
-- run's scope too, so each upkeep sweep reads one scope's rows straight from an
-- index led by the scope, whatever the other apps have parked or left due.
--
-- The sweep indexes are rebuilt with the scope first. CREATE INDEX locks writes to
-- its table while it builds: on a large journal, migrate in a quiet moment.
ALTER TABLE cx_runs ADD COLUMN scope text NOT NULL DEFAULT 'default';
ALTER TABLE cx_tasks ADD COLUMN scope text NOT NULL DEFAULT 'default';
ALTER TABLE cx_waits ADD COLUMN scope text NOT NULL DEFAULT 'default';

DROP INDEX cx_runs_wake;
CREATE INDEX cx_runs_wake ON cx_runs (scope, wake_at) WHERE wake_at IS NOT NULL;
DROP INDEX cx_tasks_ready;
CREATE INDEX cx_tasks_ready ON cx_tasks (scope, available_at) WHERE state = 'ready';
DROP INDEX cx_tasks_claimed;
CREATE INDEX cx_tasks_claimed ON cx_tasks (scope, claim_expires_at) WHERE state = 'claimed';
DROP INDEX cx_waits_due;
CREATE INDEX cx_waits_due ON cx_waits (scope, fires_at) WHERE NOT resolved AND fires_at IS NOT NULL;
DROP INDEX cx_runs_finished;
CREATE INDEX cx_runs_finished ON cx_runs (scope, completed_at)
    WHERE state IN ('completed', 'failed', 'cancelled', 'terminated', 'continued');
-- Blocked runs, offered again per scope when a worker starts (and counted by health).
CREATE INDEX cx_runs_blocked ON cx_runs (scope) WHERE state = 'blocked';

-- One upkeep leader per scope: the row is keyed by the scope now.
ALTER TABLE cx_upkeep_leader ADD COLUMN scope text NOT NULL DEFAULT 'default';
ALTER TABLE cx_upkeep_leader DROP CONSTRAINT cx_upkeep_leader_pkey;
ALTER TABLE cx_upkeep_leader ADD PRIMARY KEY (scope);
