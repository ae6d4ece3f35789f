-- Saved views: a named runs query operators share by URL (the web UI's index).
-- A name is what the URL carries; saving under an existing name replaces the query.
CREATE TABLE IF NOT EXISTS cx_saved_views (
    name       text PRIMARY KEY,
    query      text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
