-- Usage rows are written on every invocation; each index is paid on every
-- write. Time windows are served by (project_id, id): ids grow with time.
DROP INDEX IF EXISTS resource_usage_log_by_time;
