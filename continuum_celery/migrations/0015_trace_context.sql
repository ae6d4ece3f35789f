-- Tracing: the trace context of whoever started a run (W3C traceparent and
-- tracestate, as a small jsonb map), so that every span of the run, on any worker
-- and however much later, joins the caller's trace. NULL for runs started with
-- tracing off, by a schedule, or by a parent run (their spans follow the parent's
-- context, or a trace derived from the run id). Adding a nullable column only
-- changes the catalog: nothing is rewritten.
ALTER TABLE cx_runs ADD COLUMN IF NOT EXISTS trace_context jsonb;
