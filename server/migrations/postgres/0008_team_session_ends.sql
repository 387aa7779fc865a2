-- A member's access to one team ends without their account's sessions ending: an
-- admin's wipe (with the signed order the device checks before it erases the team's
-- data), an incident, a removal. A row refuses that session in that team only; the
-- account stays signed in, and its other teams are untouched.
CREATE TABLE team_session_ends (
    team_id    BYTEA NOT NULL REFERENCES teams(team_id),
    token_hash BYTEA NOT NULL REFERENCES sessions(token_hash) ON DELETE CASCADE,
    ended_at   BIGINT NOT NULL,
    wipe_order TEXT,
    PRIMARY KEY (team_id, token_hash)
);

-- The joiner's signed acceptance (JSON, `shared::chain::Acceptance`) that the admin's
-- chain entry carries; NULL for answers stored before acceptances existed.
ALTER TABLE invites ADD COLUMN acceptance TEXT;
