-- Restore notices (shared::restore): an admin's signed word that the server was
-- restored from a backup and runs as a generation. Clients start over on a `reset`
-- only with one; the server keeps the newest per team and generation, checked against
-- the poster's registered key, and takes put-backs only under one.
CREATE TABLE restore_notices (
    team_id    BYTEA NOT NULL REFERENCES teams(team_id),
    generation BIGINT NOT NULL,
    admin      TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    signature  BYTEA NOT NULL,
    PRIMARY KEY (team_id, generation)
);
