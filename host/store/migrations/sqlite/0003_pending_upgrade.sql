-- An installed extension keeps serving while a new version of it waits for
-- the owner's approval: at most one serving row (active or suspended) and
-- at most one pending row per (project, extension), instead of one live row.
DROP INDEX installations_one_live;
CREATE UNIQUE INDEX installations_one_serving
    ON installations (project_id, extension) WHERE state IN ('active', 'suspended');
CREATE UNIQUE INDEX installations_one_pending
    ON installations (project_id, extension) WHERE state = 'pending_approval';
