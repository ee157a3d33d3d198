-- Control-plane schema, PostgreSQL flavour. Keep in step with ../sqlite/.
-- Portable types only: TEXT, BIGINT (timestamps are unix milliseconds), BYTEA.
-- Booleans are BIGINT 0/1.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    label       TEXT,
    prefix      TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at);

CREATE TABLE trusted_keys (
    key_id      TEXT PRIMARY KEY NOT NULL,
    public_key  TEXT NOT NULL,
    label       TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE installations (
    id                      TEXT PRIMARY KEY NOT NULL,
    project_id              TEXT NOT NULL REFERENCES projects (id),
    extension               TEXT NOT NULL,
    version                 TEXT NOT NULL,
    state                   TEXT NOT NULL
        CHECK (state IN ('pending_approval', 'active', 'suspended', 'removed')),
    manifest                TEXT NOT NULL,
    package_id              TEXT NOT NULL,
    component_sha256        TEXT NOT NULL,
    signer_key_id           TEXT NOT NULL,
    requested_capabilities  TEXT NOT NULL,
    approved_capabilities   TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
-- At most one installation that is not removed per (project, extension).
CREATE UNIQUE INDEX installations_one_live
    ON installations (project_id, extension) WHERE state <> 'removed';
CREATE INDEX installations_by_project ON installations (project_id, created_at);
CREATE INDEX installations_by_state ON installations (state);

CREATE TABLE installation_validations (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    installation_id  TEXT,
    project_id       TEXT NOT NULL,
    extension        TEXT NOT NULL,
    version          TEXT NOT NULL,
    step             TEXT NOT NULL,
    ok               BIGINT NOT NULL CHECK (ok IN (0, 1)),
    detail           TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX installation_validations_by_extension
    ON installation_validations (project_id, extension, id);

CREATE TABLE resource_usage_log (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id         TEXT NOT NULL UNIQUE,
    project_id         TEXT NOT NULL,
    extension          TEXT NOT NULL,
    version            TEXT NOT NULL,
    endpoint           TEXT NOT NULL,
    method             TEXT NOT NULL,
    status             BIGINT NOT NULL,
    outcome            TEXT NOT NULL,
    fuel_used          BIGINT NOT NULL,
    wall_time_us       BIGINT NOT NULL,
    peak_memory_bytes  BIGINT NOT NULL,
    host_calls         BIGINT NOT NULL,
    bytes_in           BIGINT NOT NULL,
    bytes_out          BIGINT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX resource_usage_log_by_project ON resource_usage_log (project_id, id);
CREATE INDEX resource_usage_log_by_extension
    ON resource_usage_log (project_id, extension, version, id);
CREATE INDEX resource_usage_log_by_time ON resource_usage_log (project_id, created_at);

CREATE TABLE resource_violations (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    TEXT,
    project_id    TEXT NOT NULL,
    extension     TEXT NOT NULL,
    version       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    limit_value   BIGINT,
    actual_value  BIGINT,
    action        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX resource_violations_by_project ON resource_violations (project_id, id);
CREATE INDEX resource_violations_by_extension
    ON resource_violations (project_id, extension, version, id);
CREATE INDEX resource_violations_by_time ON resource_violations (project_id, created_at);

-- Append-only: the store offers no update or delete for it.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    project_id  TEXT,
    target      TEXT,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_by_project ON audit_log (project_id, id);

-- `key` uses the C collation so it compares bytewise, as SQLite does: the prefix
-- range scan and the key order rely on it.
CREATE TABLE kv_entries (
    project_id  TEXT NOT NULL REFERENCES projects (id),
    extension   TEXT NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    value       BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, extension, key)
);
