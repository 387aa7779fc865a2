-- Freshness beacons (shared::beacon): the latest one each admin of a team posted,
-- signed by that admin over the team, a chain head and the admin's clock. The server
-- checks the signature and that the head is one its chain has; members' clients judge
-- them again against the chain they verified.
CREATE TABLE beacons (
    team_id   BYTEA NOT NULL REFERENCES teams(team_id),
    admin     TEXT NOT NULL,
    chain_len BIGINT NOT NULL,
    head      BYTEA NOT NULL,
    at_ms     BIGINT NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (team_id, admin)
);
