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
# A long replay pushes its lease's expiry out (the keeper, while it works).
RENEW_LEASE = q(
    "UPDATE cx_runs SET lease_expires_at = clock_timestamp() + make_interval(secs => :ttl)"
    " WHERE id = :id AND lease_token = :token AND lease_owner IS NOT NULL"
    " AND lease_expires_at > clock_timestamp() AND state = 'running' RETURNING id"
)
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
