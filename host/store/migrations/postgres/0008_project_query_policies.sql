-- Each project's query policy for its database (capability `database`):
-- statement timeout, rows and bytes per result. A project without a row
-- has the host's defaults.
CREATE TABLE project_query_policies (
    project_id            TEXT PRIMARY KEY REFERENCES projects (id),
    statement_timeout_ms  BIGINT NOT NULL,
    max_rows              BIGINT NOT NULL,
    max_bytes             BIGINT NOT NULL,
    updated_by            TEXT NOT NULL,
    updated_at            BIGINT NOT NULL
);
