"""The activity-task statements: scheduling, claiming, settling and retrying attempts.

Split from ``queries`` (which keeps the run, event, wait and signal statements) by
what they lock: these take a task row, after its run's row where both are locked.
The same rules hold: named module-level constants, values only as bind parameters.
"""

from __future__ import annotations

from .queries import q

# --- activity tasks -----------------------------------------------------------------

# An activity_scheduled event and its task row, in one round trip. With :claim the
# task is claimed at once by the worker whose transaction schedules it (inline
# dispatch: never published unless that claim dies). With :release this is the
# decision's last write and the run's lease and wake marker are cleared with it.
# The task is available and published at the same instant, read once: two readings
# of the clock may differ, and upkeep publishes again a task whose publish is older
# than its availability (as for an attempt published before a retry).
SCHEDULE_TASK = q(
    "WITH now AS MATERIALIZED (SELECT clock_timestamp() AS at),"
    " event AS (INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " VALUES (:run_id, :seq, :type, :command_id, CAST(:data AS jsonb))"
    " RETURNING seq, type, command_id, data, created_at),"
    " task AS (INSERT INTO cx_tasks (id, run_id, command_id, activity, args, kwargs,"
    " queue, priority, timeout, retry, kind, idempotency_key, available_at, published_at,"
    " state, claim_token, claim_expires_at, deadline_at, claimed_by, scope)"
    " VALUES (:id, :run_id, :command_id, :activity, CAST(:args AS jsonb),"
    " CAST(:kwargs AS jsonb), :queue, :priority, :timeout, CAST(:retry AS jsonb), :kind,"
    " :idempotency_key, (SELECT at FROM now), (SELECT at FROM now),"
    " CASE WHEN :claim THEN 'claimed' ELSE 'ready' END,"
    " CASE WHEN :claim THEN nextval('cx_token_seq') END,"
    " CASE WHEN :claim THEN clock_timestamp() + make_interval(secs => LEAST(:timeout, :ttl))"
    " END,"
    " CASE WHEN :claim THEN clock_timestamp() + make_interval(secs => :timeout) END,"
    " CASE WHEN :claim THEN CAST(:owner AS text) END,"
    " (SELECT scope FROM cx_runs WHERE id = :run_id))"
    " RETURNING id, claim_token),"
    " attempt AS (INSERT INTO cx_attempts (task_id, attempt, claim_token)"
    " SELECT id, 1, claim_token FROM task WHERE claim_token IS NOT NULL),"
    " run AS (UPDATE cx_runs SET last_seq = :seq, lease_owner = NULL,"
    " lease_expires_at = NULL, wake_at = NULL, wake_nudges = 0, awaiting = :awaiting"
    " WHERE id = :run_id AND :release)"
    " SELECT event.*, task.claim_token FROM event, task"
)
# An operator's "retry now": attempts waiting out a backoff are due at once, and
# marked published (the caller publishes them right after commit).
RETRY_NOW = q(
    "UPDATE cx_tasks SET available_at = clock_timestamp(), published_at = clock_timestamp(),"
    " publish_count = 1 WHERE run_id = :run_id AND state = 'ready'"
    " AND available_at > clock_timestamp()"
    " RETURNING id, run_id, activity, attempt, queue, priority, timeout"
)
STORED_RESULT = q(
    "SELECT result FROM cx_activity_results WHERE activity = :activity AND idempotency_key = :key"
)
STORE_RESULT = q(
    "INSERT INTO cx_activity_results (activity, idempotency_key, result, run_id)"
    " VALUES (:activity, :key, CAST(:result AS jsonb), :run_id)"
    " ON CONFLICT DO NOTHING RETURNING activity"
)
# The compare-and-swap that turns duplicate or stale deliveries into no-ops: only
# a ready task, at exactly the attempt the message names, of a running run. The
# attempt row is written in the same round trip (a data-modifying CTE always runs).
# The claim commits without waiting for its WAL flush (``synchronous_commit`` off for
# this transaction only): a claim lost in a Postgres crash is a task left ready at
# the same attempt, which upkeep publishes again; the lost claim's holder is fenced
# out by the claim token like any other, so only the flush wait is saved.
# The task's advisory lock, as a held claim takes it (``held.py``): while another
# delivery holds the attempt in an open transaction, this one claims nothing.
CLAIM_TASK = q(
    "WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true)),"
    " claimed AS ("
    " UPDATE cx_tasks t SET state = 'claimed', claim_token = nextval('cx_token_seq'),"
    " claim_expires_at = clock_timestamp() + make_interval(secs => LEAST(t.timeout, :ttl)),"
    " deadline_at = clock_timestamp() + make_interval(secs => t.timeout),"
    " heartbeat_at = NULL, heartbeat_details = NULL, claimed_by = :owner"
    " FROM cx_runs r, (SELECT pg_try_advisory_xact_lock(:lock_class, :lock_key) AS got"
    " OFFSET 0) l"
    " WHERE l.got AND t.id = :id AND t.attempt = :attempt AND t.activity = :activity"
    " AND t.state = 'ready' AND t.available_at <= clock_timestamp()"
    " AND r.id = t.run_id AND r.state IN ('running', 'blocked') AND t.scope = :scope"
    " RETURNING t.id, t.run_id, t.command_id, t.activity, t.attempt, t.claim_token,"
    " t.args, t.kwargs, t.timeout, t.kind, t.idempotency_key, t.queue,"
    " extract(epoch FROM clock_timestamp() - t.available_at) AS waited),"
    " attempt AS (INSERT INTO cx_attempts (task_id, attempt, claim_token)"
    " SELECT id, attempt, claim_token FROM claimed)"
    " SELECT claimed.* FROM claimed, nosync"
)
RUN_TASKS = q(
    "SELECT id, command_id, activity, kind, attempt, state, heartbeat_at, heartbeat_details,"
    " created_at FROM cx_tasks WHERE run_id = :run_id ORDER BY created_at, command_id"
)
DESCRIBE_TASK = q("SELECT state, attempt, activity, run_id, scope FROM cx_tasks WHERE id = :id")
LOCK_TASK = q(
    "SELECT run_id, command_id, activity, attempt, state, claim_token, retry, timeout,"
    " queue, priority, kind, idempotency_key, claim_expires_at > clock_timestamp() AS live,"
    " deadline_at > clock_timestamp() AS in_time,"
    " claim_expires_at <= clock_timestamp() - make_interval(secs => :grace) AS abandoned"
    " FROM cx_tasks WHERE id = :id FOR UPDATE"
)
# Keep a claim alive: only its holder, only while nobody took the task over, never
# past the attempt's deadline (a claim that lapsed during a database outage is
# revived). Details are stored only when given. ``cancelling`` tells a heartbeat
# that the run was asked to cancel (the claim itself stays good).
RENEW_CLAIM = q(
    "UPDATE cx_tasks SET claim_expires_at = LEAST(deadline_at,"
    " clock_timestamp() + make_interval(secs => :ttl)),"
    " heartbeat_at = CASE WHEN :beat THEN clock_timestamp() ELSE heartbeat_at END,"
    " heartbeat_details = CASE WHEN :beat THEN CAST(:details AS jsonb)"
    " ELSE heartbeat_details END"
    " WHERE id = :id AND attempt = :attempt AND claim_token = :token AND state = 'claimed'"
    " AND deadline_at > clock_timestamp()"
    " AND EXISTS (SELECT 1 FROM cx_runs r WHERE r.id = cx_tasks.run_id"
    " AND r.state IN ('running', 'blocked'))"
    " RETURNING claim_expires_at, (SELECT r.cancel_requested_at IS NOT NULL FROM cx_runs r"
    " WHERE r.id = cx_tasks.run_id) AS cancelling"
)
TASK_AND_RUN_STATE = q(
    "SELECT t.state AS task_state, r.state AS run_state FROM cx_tasks t"
    " JOIN cx_runs r ON r.id = t.run_id WHERE t.id = :id"
)
TASK_RUN = q("SELECT run_id FROM cx_tasks WHERE id = :id")
# Completing a live claim, in one round trip: the run row is locked first (as
# LOCK_RUN; the task update joins it, so the lock order stays run, then task), and
# the task and attempt rows are settled and the event appended only if the run is
# running and the claim still holds within its deadline. The run row always comes
# back; a NULL event means the claim did not hold and nothing was written.
# ``absorbed``: the run's code still needs other completions (``awaiting`` > 1, a
# gather), so the event is counted and the run left as it is, with no replay.
# For the replay that follows, it also brings what the worker's history cache lacks
# (see ``HistoryCache.along``): the run's events after :known, up to :short of
# them, and its replay inputs (given :inputs).
COMPLETE_CLAIMED_TASK = q(
    "WITH run AS (SELECT id, state, lease_owner, lease_token,"
    " lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now,"
    " workflow, namespace, attributes, depth, parent_run_id, parent_command_id,"
    " correlation_id, next_run_id, cancel_requested_at IS NOT NULL AS cancelling,"
    " cancel_reason, awaiting, version, CASE WHEN :inputs THEN args END AS args,"
    " CASE WHEN :inputs THEN kwargs END AS kwargs FROM cx_runs WHERE id = :run_id FOR UPDATE),"
    " task AS (UPDATE cx_tasks t SET state = 'completed', claim_expires_at = NULL"
    " FROM run WHERE t.id = :id AND run.state IN ('running', 'blocked')"
    " AND t.state = 'claimed'"
    " AND t.attempt = :attempt AND t.claim_token = :token"
    " AND t.deadline_at > clock_timestamp() RETURNING t.id),"
    " attempt AS (UPDATE cx_attempts SET outcome = 'completed', finished_at = clock_timestamp()"
    " WHERE task_id = (SELECT id FROM task) AND attempt = :attempt),"
    " event AS (INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " SELECT :run_id, run.last_seq + 1, :type, :command_id, CAST(:data AS jsonb)"
    " FROM task, run RETURNING seq, type, command_id, data, created_at),"
    " absorbed AS (UPDATE cx_runs r SET last_seq = event.seq, awaiting = r.awaiting - 1"
    " FROM event WHERE r.id = :run_id AND r.state = 'running' AND r.awaiting > 1"
    " RETURNING r.id)"
    " SELECT run.*, event.seq AS event_seq, event.type AS event_type,"
    " event.command_id AS event_command_id, event.data AS event_data,"
    " event.created_at AS event_created_at, EXISTS (SELECT FROM absorbed) AS absorbed,"
    " h.seqs, h.types, h.command_ids, h.datas, h.created_ats"
    " FROM run LEFT JOIN event ON true"
    " LEFT JOIN LATERAL (SELECT array_agg(e.seq ORDER BY e.seq) AS seqs,"
    " array_agg(e.type ORDER BY e.seq) AS types,"
    " array_agg(e.command_id ORDER BY e.seq) AS command_ids,"
    " array_agg(e.data ORDER BY e.seq) AS datas,"
    " array_agg(e.created_at ORDER BY e.seq) AS created_ats FROM cx_events e"
    " WHERE :history AND event.seq IS NOT NULL AND run.last_seq - :known <= :short"
    " AND NOT EXISTS (SELECT FROM absorbed)"
    " AND e.run_id = run.id AND e.seq > :known AND e.seq <= run.last_seq) h ON true"
)
# Completing a held claim, in one round trip: as COMPLETE_CLAIMED_TASK (run row
# locked first, the event appended only if the run is running), the claim being
# the task still ready at that attempt within the attempt's timeout (counted from
# when it was held). The attempt row is written here, already completed. A NULL
# event means nothing was written: the caller retakes the claim durably. Like
# COMPLETE_CLAIMED_TASK, it absorbs a completion a gather still waits beside, and
# brings the history and inputs the worker lacks for the replay.
HELD_COMPLETE = q(
    "WITH run AS (SELECT id, state, lease_owner, lease_token,"
    " lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now,"
    " workflow, namespace, attributes, depth, parent_run_id, parent_command_id,"
    " correlation_id, next_run_id, cancel_requested_at IS NOT NULL AS cancelling,"
    " cancel_reason, awaiting, version, CASE WHEN :inputs THEN args END AS args,"
    " CASE WHEN :inputs THEN kwargs END AS kwargs FROM cx_runs WHERE id = :run_id FOR UPDATE),"
    " task AS (UPDATE cx_tasks t SET state = 'completed', claim_expires_at = NULL,"
    " claim_token = nextval('cx_token_seq'), claimed_by = :owner,"
    " deadline_at = CAST(:held_at AS timestamptz) + make_interval(secs => t.timeout)"
    " FROM run WHERE t.id = :id AND run.state IN ('running', 'blocked')"
    " AND t.state = 'ready' AND t.attempt = :attempt"
    " AND clock_timestamp() < CAST(:held_at AS timestamptz) + make_interval(secs => t.timeout)"
    " RETURNING t.id, t.claim_token),"
    " attempt AS (INSERT INTO cx_attempts"
    " (task_id, attempt, claim_token, outcome, started_at, finished_at)"
    " SELECT id, :attempt, claim_token, 'completed', CAST(:held_at AS timestamptz),"
    " clock_timestamp() FROM task),"
    " event AS (INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " SELECT :run_id, run.last_seq + 1, :type, :command_id, CAST(:data AS jsonb)"
    " FROM task, run RETURNING seq, type, command_id, data, created_at),"
    " absorbed AS (UPDATE cx_runs r SET last_seq = event.seq, awaiting = r.awaiting - 1"
    " FROM event WHERE r.id = :run_id AND r.state = 'running' AND r.awaiting > 1"
    " RETURNING r.id)"
    " SELECT run.*, event.seq AS event_seq, event.type AS event_type,"
    " event.command_id AS event_command_id, event.data AS event_data,"
    " event.created_at AS event_created_at, EXISTS (SELECT FROM absorbed) AS absorbed,"
    " h.seqs, h.types, h.command_ids, h.datas, h.created_ats"
    " FROM run LEFT JOIN event ON true"
    " LEFT JOIN LATERAL (SELECT array_agg(e.seq ORDER BY e.seq) AS seqs,"
    " array_agg(e.type ORDER BY e.seq) AS types,"
    " array_agg(e.command_id ORDER BY e.seq) AS command_ids,"
    " array_agg(e.data ORDER BY e.seq) AS datas,"
    " array_agg(e.created_at ORDER BY e.seq) AS created_ats FROM cx_events e"
    " WHERE :history AND event.seq IS NOT NULL AND run.last_seq - :known <= :short"
    " AND NOT EXISTS (SELECT FROM absorbed)"
    " AND e.run_id = run.id AND e.seq > :known AND e.seq <= run.last_seq) h ON true"
)
FINISH_TASK = q("UPDATE cx_tasks SET state = :state, claim_expires_at = NULL WHERE id = :id")
FINISH_ATTEMPT = q(
    "UPDATE cx_attempts SET outcome = :outcome, error = :error, finished_at = clock_timestamp()"
    " WHERE task_id = :id AND attempt = :attempt"
)
RETRY_TASK = q(
    "UPDATE cx_tasks SET state = 'ready', attempt = attempt + 1, claim_token = NULL,"
    " claim_expires_at = NULL,"
    " available_at = clock_timestamp() + make_interval(secs => :delay),"
    " published_at = CASE WHEN :publish_now"
    " THEN clock_timestamp() + make_interval(secs => :delay) END,"
    " publish_count = CASE WHEN :publish_now THEN 1 ELSE 0 END"
    " WHERE id = :id"
)
