-- Earlier versions of records, kept for the team's retention period (issue 31, item 12):
-- each accepted push copies the version it replaces here, sealed as it was, so a member
-- who blanks or junks records leaves what they replaced behind for a colleague to put
-- back. Pruned once replaced longer ago than `teams.retention_days` (an admin sets it;
-- 30 by default, 0 keeps none). The server learns nothing it did not hold before.
-- (SQLite: 0020_record_history.sql.)
CREATE TABLE record_history (
    team_id     BYTEA NOT NULL REFERENCES teams(team_id),
    record_id   BYTEA NOT NULL,
    version     BIGINT NOT NULL,
    collection  BYTEA NOT NULL,
    epoch       BIGINT NOT NULL,
    author      TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    written_at  BIGINT NOT NULL,
    replaced_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, record_id, version)
);
CREATE INDEX record_history_by_age ON record_history (team_id, replaced_at);
ALTER TABLE teams ADD COLUMN retention_days BIGINT NOT NULL DEFAULT 30;
