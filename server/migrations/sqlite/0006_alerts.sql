-- Security alerts the server raises from what it can see without plaintext (volumes
-- and patterns of requests), for the team's admins.
CREATE TABLE alerts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id   BLOB NOT NULL REFERENCES teams(team_id),
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    username  TEXT NOT NULL,
    detail    TEXT NOT NULL,
    suspended INTEGER NOT NULL
);
CREATE INDEX alerts_by_team ON alerts(team_id, at);
