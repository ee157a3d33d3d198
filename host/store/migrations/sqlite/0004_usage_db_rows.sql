-- The project database's share of an invocation: rows returned or changed
-- by `database` calls, and the time spent in them.
ALTER TABLE resource_usage_log ADD COLUMN db_rows BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_usage_log ADD COLUMN db_time_us BIGINT NOT NULL DEFAULT 0;
