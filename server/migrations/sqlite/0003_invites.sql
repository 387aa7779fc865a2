-- Invitations. The secret lives only in the link's fragment; the server keeps who was
-- invited to which team with which role, and relays the joiner's keys and MAC to the
-- admin's client, which verifies them (the server cannot make a valid MAC).
CREATE TABLE invites (
    invite_id   BLOB PRIMARY KEY NOT NULL,
    team_id     BLOB NOT NULL REFERENCES teams(team_id),
    role        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_by TEXT,
    sign_pk     BLOB,
    dh_pk       BLOB,
    mac         BLOB,
    accepted_at INTEGER
);
CREATE INDEX invites_by_team ON invites(team_id);
