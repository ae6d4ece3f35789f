"""Every SQL statement the engine runs, named, in one place.

All values travel as bind parameters; no statement is ever built from user input.
Locks are always taken run row first, then its task or wait rows, so concurrent
writers cannot deadlock.
"""

from __future__ import annotations

from sqlalchemy import TextClause, text


def q(sql: str) -> TextClause:
    return text(sql)


# --- runs ---------------------------------------------------------------------------

CLAIM_START_KEY = q(
    "INSERT INTO cx_start_keys (namespace, workflow, idempotency_key, run_id)"
    " VALUES (:namespace, :workflow, :key, :run_id)"
    " ON CONFLICT DO NOTHING RETURNING run_id"
)
GET_START_KEY = q(
    "SELECT run_id FROM cx_start_keys"
    " WHERE namespace = :namespace AND workflow = :workflow AND idempotency_key = :key"
)
# A run due later than the client's countdown reaches gets ``wake_nudges = -1``: no
# wakeup was published for it, so upkeep publishes one as soon as it is due.
# Returns what LOCK_RUN reads of a run: the inserting transaction holds the new
# row, so an eager start decides on it as on a locked run without reading it back.
INSERT_RUN = q(
    "INSERT INTO cx_runs (id, workflow, version, namespace, args, kwargs, attributes,"
    " idempotency_key, parent_run_id, wake_at, wake_nudges, scope, trace_context)"
    " VALUES (:id, :workflow, :version, :namespace, CAST(:args AS jsonb),"
    " CAST(:kwargs AS jsonb), CAST(:attributes AS jsonb), :key, :parent_run_id,"
    " COALESCE(CAST(:eta AS timestamptz), clock_timestamp()),"
    " CASE WHEN CAST(:eta AS timestamptz)"
    " > clock_timestamp() + make_interval(secs => :publish_within) THEN -1 ELSE 0 END,"
    " :scope, CAST(:trace_context AS jsonb))"
    " ON CONFLICT (id) DO NOTHING RETURNING id, state, lease_owner, lease_token,"
    " lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now, workflow, namespace, attributes, depth,"
    " parent_run_id, parent_command_id, correlation_id, next_run_id,"
    " cancel_requested_at IS NOT NULL AS cancelling, cancel_reason, scope"
)
# A start whose run id is taken: the same run only if workflow and input match,
# compared as the journal stores them (jsonb equality: key order and number
# spelling do not matter, types and values do).
SAME_START = q(
    "SELECT workflow, workflow = :workflow AS same_workflow,"
    " args = CAST(:args AS jsonb) AND kwargs = CAST(:kwargs AS jsonb) AS same_input"
    " FROM cx_runs WHERE id = :id"
)
GET_RUN = q(
    "SELECT id, workflow, version, namespace, state, args, kwargs, result, error,"
    " attributes, idempotency_key, parent_run_id, created_at, completed_at, wake_at,"
    " depth, continued_from, next_run_id, correlation_id, traceback, cancel_requested_at,"
    " cancel_reason, forked_from, fork_seq"
    " FROM cx_runs WHERE id = :id"
)
# Take the lease only when there is something to replay (a wake marker that is due)
# and nobody holds a live lease; the token comes from the global sequence. A blocked
# run is running again while it is tried: the replay blocks it again if it must.
ACQUIRE_LEASE = q(
    "UPDATE cx_runs SET lease_owner = :owner, lease_token = nextval('cx_token_seq'),"
    " lease_expires_at = clock_timestamp() + make_interval(secs => :ttl),"
    " error = CASE WHEN state = 'blocked' THEN NULL ELSE error END, state = 'running'"
    " WHERE id = :id AND scope = :scope AND state IN ('running', 'blocked')"
    " AND wake_at IS NOT NULL AND wake_at <= clock_timestamp()"
    " AND (lease_owner IS NULL OR lease_expires_at <= clock_timestamp())"
    " RETURNING lease_token, workflow, version, namespace, args, kwargs, attributes,"
    " parent_run_id, last_seq, depth"
)
# A run started by name where the code was not imported has version 0; the first
# lease pins the newest version that worker has, fenced by the lease token.
PIN_VERSION = q(
    "UPDATE cx_runs SET version = :version"
    " WHERE id = :id AND version = 0 AND lease_token = :token AND state = 'running'"
    " RETURNING version"
)
LOCK_RUN = q(
    "SELECT id, state, lease_owner, lease_token, lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now, workflow, namespace, attributes, depth,"
    " parent_run_id, parent_command_id, correlation_id, next_run_id,"
    " cancel_requested_at IS NOT NULL AS cancelling, cancel_reason, scope"
    " FROM cx_runs WHERE id = :id FOR UPDATE"
)
RUN_INPUTS = q(
    "SELECT workflow, version, namespace, args, kwargs, attributes, parent_run_id, depth"
    " FROM cx_runs WHERE id = :id"
)
PARENT_OF = q("SELECT parent_run_id FROM cx_runs WHERE id = :id")
# A continue-as-new chain followed to its newest run in one statement, so in one
# snapshot: the run ids on the way are final (a continued run never changes).
CHAIN_TIP = q(
    "WITH RECURSIVE chain (id, state, next_run_id, hops) AS ("
    " SELECT id, state, next_run_id, 0 FROM cx_runs WHERE id = :id"
    " UNION ALL SELECT r.id, r.state, r.next_run_id, chain.hops + 1"
    " FROM chain JOIN cx_runs r ON r.id = chain.next_run_id"
    " WHERE chain.state = 'continued' AND chain.hops < :max_hops)"
    " SELECT id FROM chain ORDER BY hops DESC LIMIT 1"
)
LOCK_LIVE_CHILDREN = q(
    "SELECT id FROM cx_runs WHERE parent_run_id = ANY(CAST(:ids AS text[]))"
    " AND state IN ('running', 'blocked') ORDER BY id FOR UPDATE"
)
INSERT_SPAWNED_RUN = q(
    "INSERT INTO cx_runs (id, workflow, version, namespace, args, kwargs, attributes,"
    " parent_run_id, parent_command_id, depth, continued_from, correlation_id, wake_at,"
    " scope)"
    " VALUES (:id, :workflow, :version, :namespace, CAST(:args AS jsonb),"
    " CAST(:kwargs AS jsonb), CAST(:attributes AS jsonb), :parent_run_id,"
    " :parent_command_id, :depth, :continued_from, :correlation_id, clock_timestamp(),"
    " (SELECT scope FROM cx_runs WHERE id = :from_run))"
    " ON CONFLICT (id) DO NOTHING"
)
# --- runs, continued ------------------------------------------------------------------

# A workflow's own upsert: top-level keys replaced, removed keys dropped.
UPSERT_ATTRIBUTES = q(
    "UPDATE cx_runs SET attributes = (attributes || CAST(:set AS jsonb))"
    " - ARRAY(SELECT jsonb_array_elements_text(CAST(:unset AS jsonb)))"
    " WHERE id = :id RETURNING attributes"
)
MOVE_SIGNALS = q("UPDATE cx_signals SET run_id = :next_run_id WHERE run_id = :id AND NOT consumed")
# Input landed after the replay read the history: its count of completions still
# needed (``awaiting``) may be stale, so it is cleared until a replay that saw
# everything writes it again. Every way of marking input for a wakeup clears it too.
KEEP_LEASE = q(
    "UPDATE cx_runs SET last_seq = :last_seq, awaiting = NULL,"
    " lease_expires_at = clock_timestamp() + make_interval(secs => :ttl) WHERE id = :id"
)
RELEASE_LEASE = q(
    "UPDATE cx_runs SET last_seq = :last_seq, lease_owner = NULL, lease_expires_at = NULL,"
    " wake_at = NULL, wake_nudges = 0, awaiting = :awaiting WHERE id = :id"
)
# Give the lease back but keep the wake marker: another worker should take over.
# The nudge backoff starts over: this is "not me", not "nobody is listening".
DROP_LEASE = q(
    "UPDATE cx_runs SET lease_owner = NULL, lease_expires_at = NULL, wake_nudges = 0,"
    " wake_at = GREATEST(wake_at, clock_timestamp() + make_interval(secs => :delay))"
    " WHERE id = :id AND lease_token = :token"
)
# Every way a run ends (completed, failed, cancelled, continued) is this one
# statement, so none can forget what the run left pending: its running attempts are
# cancelled (their late completions are refused), its open tasks are cancelled
# (upkeep never publishes them again) and its unresolved waits are resolved (no
# timer fires into an ended run). It also announces the end on cx_run_ended
# (payload: the run id, delivered at commit; see LISTEN_RUN_ENDS), so
# ``RunHandle.result`` waits without polling: one notification per run end, none
# per step.
END_RUN = q(
    "WITH run AS (UPDATE cx_runs SET state = :state, result = CAST(:result AS jsonb),"
    " error = :error, traceback = :traceback, next_run_id = :next_run_id,"
    " last_seq = :last_seq,"
    " completed_at = clock_timestamp(), lease_owner = NULL, lease_expires_at = NULL,"
    " wake_at = NULL, wake_nudges = 0 WHERE id = :id),"
    " attempts AS (UPDATE cx_attempts a SET outcome = 'cancelled',"
    " finished_at = clock_timestamp() FROM cx_tasks t"
    " WHERE a.task_id = t.id AND t.run_id = :id AND a.outcome = 'running'),"
    " tasks AS (UPDATE cx_tasks SET state = 'cancelled', claim_expires_at = NULL"
    " WHERE run_id = :id AND state IN ('ready', 'claimed')),"
    " waits AS (UPDATE cx_waits SET resolved = true WHERE run_id = :id AND NOT resolved)"
    " SELECT pg_notify('cx_run_ended', :id)"
)
# The replay cannot go on with this code (drift, or no worker has the workflow): hold
# the run, history untouched. The marker stays set, so upkeep retries it with the
# nudge backoff (which a successful replay resets).
BLOCK_RUN = q(
    "UPDATE cx_runs SET state = 'blocked', error = :error, last_seq = :last_seq,"
    " awaiting = NULL, lease_owner = NULL, lease_expires_at = NULL,"
    " wake_at = clock_timestamp() WHERE id = :id"
)
# A worker process started: blocked runs get another chance at once (new code may
# have arrived with it).
WAKE_BLOCKED = q(
    "UPDATE cx_runs SET wake_at = clock_timestamp(), wake_nudges = 0"
    " WHERE state = 'blocked' AND scope = :scope RETURNING id"
)
# A cancel request: recorded once (a second request is a no-op); the workflow
# gets workflow.Cancelled at its wait, so the waits it had open are closed.
REQUEST_CANCEL = q(
    "UPDATE cx_runs SET cancel_requested_at = clock_timestamp(), cancel_reason = :reason"
    " WHERE id = :id AND cancel_requested_at IS NULL RETURNING id"
)
CLOSE_WAITS = q("UPDATE cx_waits SET resolved = true WHERE run_id = :run_id AND NOT resolved")
LISTEN_RUN_ENDS = q("LISTEN cx_run_ended")
# Input landed for the run: keep the oldest pending marker, so upkeep sees its age.
MARK_WAKE = q(
    "UPDATE cx_runs SET last_seq = :last_seq, awaiting = NULL,"
    " wake_at = COALESCE(wake_at, clock_timestamp()) WHERE id = :id"
)

# --- events -------------------------------------------------------------------------

# Every append returns the row as stored: the writer then knows the journal exactly
# (jsonb key order and numbers included) without reading it back.
INSERT_EVENT = q(
    "INSERT INTO cx_events (run_id, seq, type, command_id, data)"
    " VALUES (:run_id, :seq, :type, :command_id, CAST(:data AS jsonb))"
    " RETURNING seq, type, command_id, data, created_at"
)
LOAD_EVENTS = q(
    "SELECT seq, type, command_id, data, created_at FROM cx_events"
    " WHERE run_id = :run_id AND seq > :after ORDER BY seq"
)
LOAD_EVENTS_UPTO = q(
    "SELECT seq, type, command_id, data, created_at FROM cx_events"
    " WHERE run_id = :run_id AND seq > :after AND seq <= :upto ORDER BY seq"
)

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
RENEW_LEASE = q(
    "UPDATE cx_runs SET lease_expires_at = clock_timestamp() + make_interval(secs => :ttl)"
    " WHERE id = :id AND lease_token = :token AND lease_owner IS NOT NULL"
    " AND lease_expires_at > clock_timestamp() AND state = 'running' RETURNING id"
)
TASK_RUN = q("SELECT run_id FROM cx_tasks WHERE id = :id")
# Completing a live claim, in one round trip: the run row is locked first (as
# LOCK_RUN; the task update joins it, so the lock order stays run, then task), and
# the task and attempt rows are settled and the event appended only if the run is
# running and the claim still holds within its deadline. The run row always comes
# back; a NULL event means the claim did not hold and nothing was written.
# ``absorbed``: the run's code still needs other completions (``awaiting`` > 1, a
# gather), so the event is counted and the run left as it is, with no replay.
COMPLETE_CLAIMED_TASK = q(
    "WITH run AS (SELECT id, state, lease_owner, lease_token,"
    " lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now,"
    " workflow, namespace, attributes, depth, parent_run_id, parent_command_id,"
    " correlation_id, next_run_id, cancel_requested_at IS NOT NULL AS cancelling,"
    " cancel_reason, awaiting FROM cx_runs WHERE id = :run_id FOR UPDATE),"
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
    " event.created_at AS event_created_at, EXISTS (SELECT FROM absorbed) AS absorbed"
    " FROM run LEFT JOIN event ON true"
)
# Completing a held claim, in one round trip: as COMPLETE_CLAIMED_TASK (run row
# locked first, the event appended only if the run is running), the claim being
# the task still ready at that attempt within the attempt's timeout (counted from
# when it was held). The attempt row is written here, already completed. A NULL
# event means nothing was written: the caller retakes the claim durably.
HELD_COMPLETE = q(
    "WITH run AS (SELECT id, state, lease_owner, lease_token,"
    " lease_expires_at > clock_timestamp() AS live,"
    " wake_at IS NOT NULL AND wake_at <= clock_timestamp() AS due,"
    " last_seq, clock_timestamp() AS db_now,"
    " workflow, namespace, attributes, depth, parent_run_id, parent_command_id,"
    " correlation_id, next_run_id, cancel_requested_at IS NOT NULL AS cancelling,"
    " cancel_reason FROM cx_runs WHERE id = :run_id FOR UPDATE),"
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
    " FROM task, run RETURNING seq, type, command_id, data, created_at)"
    " SELECT run.*, event.seq AS event_seq, event.type AS event_type,"
    " event.command_id AS event_command_id, event.data AS event_data,"
    " event.created_at AS event_created_at FROM run LEFT JOIN event ON true"
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

# --- waits and signals ------------------------------------------------------------

# Seconds until the earliest unresolved wait fires (negative: overdue), on the
# database clock; a min() over the partial index of due waits.
# The earliest of the next wait and the next schedule fire time (both indexed).
NEXT_WAIT_DUE_IN = q(
    "SELECT EXTRACT(EPOCH FROM (LEAST((SELECT min(fires_at) FROM cx_waits"
    " WHERE scope = :scope AND NOT resolved AND fires_at IS NOT NULL),"
    " (SELECT min(next_fire_at) FROM cx_schedules"
    " WHERE scope = :scope AND NOT paused AND next_fire_at IS NOT NULL))"
    " - clock_timestamp()))::float8 AS seconds"
)
# The NOTIFY (sent at commit) wakes the upkeep leader early for a wait that fires
# sooner than the leader would look again by itself (it looks at least every second),
# so a short timer fires on time without anyone polling; later ones are found by the
# leader's regular look at the earliest unresolved wait (``NEXT_WAIT_DUE_IN``).
INSERT_WAIT = q(
    "WITH inserted AS (INSERT INTO cx_waits (run_id, command_id, kind, name, fires_at, scope)"
    " VALUES (:run_id, :command_id, :kind, :name, :fires_at,"
    " (SELECT scope FROM cx_runs WHERE id = :run_id)) RETURNING fires_at)"
    " SELECT pg_notify('cx_waits', '') FROM inserted"
    " WHERE fires_at < clock_timestamp() + make_interval(secs => 2)"
)
RESOLVE_WAIT = q(
    "UPDATE cx_waits SET resolved = true"
    " WHERE run_id = :run_id AND command_id = :command_id AND NOT resolved RETURNING kind"
)
PENDING_SIGNAL_WAIT = q(
    "SELECT command_id FROM cx_waits"
    " WHERE run_id = :run_id AND kind = 'signal' AND name = :name AND NOT resolved"
    " ORDER BY created_at, command_id LIMIT 1"
)
BUFFER_SIGNAL = q(
    "INSERT INTO cx_signals (run_id, name, payload)"
    " VALUES (:run_id, :name, CAST(:payload AS jsonb))"
)
TAKE_BUFFERED_SIGNAL = q(
    "UPDATE cx_signals SET consumed = true WHERE id = ("
    " SELECT id FROM cx_signals WHERE run_id = :run_id AND name = :name AND NOT consumed"
    " ORDER BY id LIMIT 1) RETURNING payload"
)

# --- telemetry ----------------------------------------------------------------------

# The trace a run's spans join: its own stored context, else the nearest one up its
# chain of parents and predecessors; the last run looked at names a trace derived
# from its id when none in the chain has a context. Read once per run and process.
RUN_TRACE_CONTEXT = q(
    "WITH RECURSIVE chain(id, up, trace, hops) AS ("
    " SELECT id, COALESCE(parent_run_id, continued_from), trace_context, 0"
    " FROM cx_runs WHERE id = :id"
    " UNION ALL SELECT r.id, COALESCE(r.parent_run_id, r.continued_from), r.trace_context,"
    " c.hops + 1 FROM cx_runs r JOIN chain c ON r.id = c.up"
    " WHERE c.trace IS NULL AND c.hops < 100)"
    " SELECT id, trace, (SELECT workflow FROM cx_runs WHERE id = :id) AS workflow"
    " FROM chain ORDER BY hops DESC LIMIT 1"
)
# Gauges the upkeep leader refreshes: waits (timers, signal timeouts) past due and
# how late the oldest is, and each workflow's skipped schedule ticks so far.
DUE_WAITS_BACKLOG = q(
    "SELECT count(*) AS due, COALESCE(extract(epoch FROM now() - min(fires_at)), 0) AS lag"
    " FROM cx_waits WHERE scope = :scope AND NOT resolved AND fires_at <= now()"
)
SCHEDULE_SKIPS = q(
    "SELECT workflow, sum(overlap_skipped) AS overlap, sum(missed_catchup) AS catchup,"
    " sum(buffer_dropped) AS buffer FROM cx_schedules WHERE scope = :scope GROUP BY workflow"
)
