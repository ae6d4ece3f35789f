-- Fan-in: how many more activity completions a run's code needs before it can move.
--
-- Written by each decision commit that saw the whole history (the length of the
-- all-of wait the code is parked at: 1,000 for a gather of 1,000), decremented by
-- each completion that lands meanwhile, and cleared (NULL: replay on any input)
-- whenever input is marked for a wakeup. A completion that finds more than one
-- still needed appends its event without replaying the run, so a gather's
-- completions do not each take the run for a replay. Adding a nullable column only
-- changes the catalog: nothing is rewritten.
ALTER TABLE cx_runs ADD COLUMN IF NOT EXISTS awaiting integer;
