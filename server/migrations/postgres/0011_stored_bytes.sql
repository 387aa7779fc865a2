-- Stored bytes, per team and per member (issue 31, item 12): what the current versions
-- of a team's records weigh, sealed, and what each member's share of them (the versions
-- they pushed) weighs. Kept up to date by every push, in its transaction, so several
-- server instances agree on them; a push that would take a team or its pusher past
-- the operator's quota is refused. Counted from the records already stored.
-- (SQLite: 0021_stored_bytes.sql.)
ALTER TABLE teams ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE teams SET stored_bytes =
    (SELECT COALESCE(SUM(LENGTH(sealed)), 0) FROM records WHERE records.team_id = teams.team_id);
CREATE TABLE member_bytes (
    team_id  BYTEA NOT NULL REFERENCES teams(team_id),
    username TEXT NOT NULL,
    bytes    BIGINT NOT NULL,
    PRIMARY KEY (team_id, username)
);
INSERT INTO member_bytes (team_id, username, bytes)
    SELECT team_id, author, SUM(LENGTH(sealed)) FROM records GROUP BY team_id, author;
