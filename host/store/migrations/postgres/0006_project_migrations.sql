-- Schema migrations project owners apply to their project's database
-- (not to this control plane): who applied what and when, with the SQL to
-- undo it. `seq` orders them; a rolled-back migration keeps its row.
CREATE TABLE project_migrations (
    project_id      TEXT NOT NULL REFERENCES projects (id),
    name            TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    checksum        TEXT NOT NULL,
    up_sql          TEXT NOT NULL,
    down_sql        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('applied', 'rolled_back')),
    applied_by      TEXT NOT NULL,
    applied_at      BIGINT NOT NULL,
    rolled_back_at  BIGINT,
    PRIMARY KEY (project_id, name)
);
