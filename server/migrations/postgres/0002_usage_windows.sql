-- Per member and hour: records pulled (the bulk-download alert) and unapproved
-- deletions (the approval threshold), counted in the database so every instance sees
-- the same numbers (SQLite: 0012_usage_windows.sql).
CREATE TABLE usage_windows (
    team_id    BYTEA NOT NULL,
    username   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    alerted    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (team_id, username, kind)
);
