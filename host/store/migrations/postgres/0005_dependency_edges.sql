-- The dependency and conflict edges each installation's manifest declares,
-- as the registry published them: what the resolver and uninstall checks
-- read for the installed graph, and what an owner can inspect.
CREATE TABLE dependencies (
    installation_id  TEXT NOT NULL REFERENCES installations (id),
    project_id       TEXT NOT NULL,
    extension        TEXT NOT NULL,
    depends_on       TEXT NOT NULL,
    version_range    TEXT NOT NULL,
    optional         BIGINT NOT NULL CHECK (optional IN (0, 1)),
    PRIMARY KEY (installation_id, depends_on)
);
CREATE INDEX dependencies_by_target ON dependencies (project_id, depends_on);

CREATE TABLE conflicts (
    installation_id  TEXT NOT NULL REFERENCES installations (id),
    project_id       TEXT NOT NULL,
    extension        TEXT NOT NULL,
    conflicts_with   TEXT NOT NULL,
    version_range    TEXT,
    reason           TEXT NOT NULL,
    PRIMARY KEY (installation_id, conflicts_with)
);
