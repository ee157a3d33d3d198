-- The retention purge deletes events by creation time across all projects;
-- `events_by_project` (project first) cannot serve it.
CREATE INDEX events_by_time ON events (created_at);
