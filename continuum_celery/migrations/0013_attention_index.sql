-- Searching the runs that need a human by attribute ("failed runs of customer c-42").
--
-- The general attributes index finds every run of a customer; with many runs per
-- customer Postgres then reads each one to keep the few that failed, a cost that
-- grows with the customer's history (about 2,000 heap pages for 2,000 runs). This
-- partial index holds only failed and blocked runs, a small share that operators
-- search most, so the same query reads only what it returns. A query for
-- state = "failed" (or "blocked", or IN both) with an attribute is implied by the
-- predicate and served here.
CREATE INDEX IF NOT EXISTS cx_runs_attention_attributes ON cx_runs
    USING gin (attributes jsonb_path_ops) WHERE state IN ('failed', 'blocked');
