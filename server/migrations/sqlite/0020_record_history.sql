-- Earlier versions of records, kept for the team's retention period (issue 31, item 12):
-- each accepted push copies the version it replaces here, sealed as it was, so a member
-- who blanks or junks records leaves what they replaced behind for a colleague to put
-- back. Pruned once replaced longer ago than `teams.retention_days` (an admin sets it;
-- 30 by default, 0 keeps none). The server learns nothing it did not hold before.
-- (PostgreSQL: 0010_record_history.sql.)
CREATE TABLE record_history (
    team_id     BLOB NOT NULL REFERENCES teams(team_id),
    record_id   BLOB NOT NULL,
    version     INTEGER NOT NULL,
    collection  BLOB NOT NULL,
    epoch       INTEGER NOT NULL,
    author      TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    written_at  INTEGER NOT NULL,
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, record_id, version)
);
CREATE INDEX record_history_by_age ON record_history (team_id, replaced_at);
ALTER TABLE teams ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 30;
