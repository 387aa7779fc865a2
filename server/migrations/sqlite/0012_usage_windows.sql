-- Per member and hour: records pulled (the bulk-download alert) and unapproved
-- deletions (the approval threshold). In the database, not in a server's memory, so
-- several instances count together.
CREATE TABLE usage_windows (
    team_id    BLOB NOT NULL,
    username   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    alerted    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (team_id, username, kind)
);
