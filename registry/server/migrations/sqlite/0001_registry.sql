-- Registry schema, SQLite flavour. Keep in step with ../postgres/.
-- Portable types only: TEXT, BIGINT (timestamps are unix milliseconds).
-- Booleans are BIGINT 0/1; lists are JSON text.

CREATE TABLE publishers (
    name          TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT,
    created_at    BIGINT NOT NULL
);

-- A key id is registered to at most one publisher, ever.
CREATE TABLE publisher_keys (
    key_id             TEXT PRIMARY KEY NOT NULL,
    publisher          TEXT NOT NULL REFERENCES publishers (name),
    public_key         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    revoked_at         BIGINT,
    revocation_reason  TEXT CHECK (revocation_reason IN ('rotated', 'compromised')),
    revocation_note    TEXT
);
CREATE INDEX publisher_keys_by_publisher ON publisher_keys (publisher, created_at);

-- An extension name belongs to the publisher of its first published version.
CREATE TABLE extensions (
    name         TEXT PRIMARY KEY NOT NULL,
    publisher    TEXT NOT NULL REFERENCES publishers (name),
    description  TEXT NOT NULL,
    keywords     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Published versions are immutable apart from the yank and revocation columns.
CREATE TABLE versions (
    extension          TEXT NOT NULL REFERENCES extensions (name),
    version            TEXT NOT NULL,
    package_id         TEXT NOT NULL,
    sha256             TEXT NOT NULL,
    component_sha256   TEXT NOT NULL,
    manifest_sha256    TEXT NOT NULL,
    size               BIGINT NOT NULL,
    publisher          TEXT NOT NULL REFERENCES publishers (name),
    key_id             TEXT NOT NULL REFERENCES publisher_keys (key_id),
    host_range         TEXT NOT NULL,
    capabilities       TEXT NOT NULL,
    manifest           TEXT NOT NULL,
    published_at       BIGINT NOT NULL,
    yanked             BIGINT NOT NULL DEFAULT 0 CHECK (yanked IN (0, 1)),
    yank_reason        TEXT,
    revoked_at         BIGINT,
    PRIMARY KEY (extension, version)
);
CREATE INDEX versions_by_sha256 ON versions (sha256);
CREATE INDEX versions_by_key ON versions (key_id);

CREATE TABLE hosts (
    name        TEXT PRIMARY KEY NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- One row per (host, project, extension) that ever reported an installation.
CREATE TABLE installations (
    host        TEXT NOT NULL REFERENCES hosts (name),
    project     TEXT NOT NULL,
    extension   TEXT NOT NULL REFERENCES extensions (name),
    version     TEXT NOT NULL,
    active      BIGINT NOT NULL CHECK (active IN (0, 1)),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (host, project, extension)
);
CREATE INDEX installations_by_extension ON installations (extension, active);

CREATE TABLE ratings (
    host        TEXT NOT NULL REFERENCES hosts (name),
    project     TEXT NOT NULL,
    extension   TEXT NOT NULL REFERENCES extensions (name),
    stars       BIGINT NOT NULL CHECK (stars BETWEEN 1 AND 5),
    review      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (host, project, extension)
);
CREATE INDEX ratings_by_extension ON ratings (extension, updated_at);

-- Append-only: the store offers no update or delete for it.
CREATE TABLE registry_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
