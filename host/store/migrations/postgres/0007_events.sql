-- Events between a project's installations (capability `events`). An event
-- is stored with one delivery row per installation subscribed to its topic
-- when it was published, in one transaction: what `publish` acknowledged
-- is never lost. Deliveries are retried until delivered or out of attempts
-- (`dead`); `dropped` means the subscriber was gone when its turn came.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id),
    topic           TEXT NOT NULL,
    source          TEXT NOT NULL,
    source_version  TEXT NOT NULL,
    request_id      TEXT,
    hop             BIGINT NOT NULL,
    payload         BYTEA NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX events_by_project ON events (project_id, created_at);

CREATE TABLE event_deliveries (
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL,
    extension       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'dropped')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A host working on the delivery holds it until then; past it, any host
    -- may take it again (the worker died or hangs).
    lease_until     BIGINT,
    last_error      TEXT,
    finished_at     BIGINT,
    PRIMARY KEY (event_id, extension)
);
CREATE INDEX event_deliveries_due ON event_deliveries (next_attempt_at) WHERE state = 'pending';
